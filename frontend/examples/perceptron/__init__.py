"""hxtorch's perceptron examples: `minimal` (one matmul on the chip) and `mnist` (training).

Run them as `python -m hxtorch.examples.perceptron.minimal` and
`python -m hxtorch.examples.perceptron.mnist --help`; from Python, `main(args)` with the
namespace of `get_parser()`.
"""
