"""hxtorch's examples (`hxtorch.examples`), runnable with `python -m`."""
