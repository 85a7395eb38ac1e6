"""`builtin`: make a Python function behave like one of hxtorch's compiled (pybind) builtins.

In hxtorch every operation and every core function is a `builtin_function_or_method`. Code
written for it relies on three properties a plain Python function lacks or has differently:

- it never binds as a method: `class E: op = hxtorch.perceptron.matmul` and `E().op(x, w)`
  passes no `self`;
- `__doc__` starts with a one-line signature in pybind's style,
  `matmul(input: torch.Tensor, ..., mock: bool = False) -> torch.Tensor`;
- it pickles by reference (module and name).

`builtin(fn)` wraps `fn` in one `Builtin` object that has these properties and keeps what a
Python function offers on top (`inspect.signature`, keyword calls with the parameter names,
`__wrapped__`). As a non-data descriptor that returns itself, it counts as a routine for
`inspect` and Sphinx, like `staticmethod`. One mechanism for every builtin; no per-op code.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def _text(annotation: Any) -> str:
    """An annotation as pybind prints it (the source text under `from __future__ import
    annotations`)."""
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__qualname__", None) or repr(annotation)


def signature_line(name: str, signature: inspect.Signature) -> str:
    """`name(a: T = default, *, b: U = default) -> R`, pybind's one-line form."""
    parts = []
    star = False
    for p in signature.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = p.name if p.kind is not p.VAR_POSITIONAL else f"*{p.name}"
        if p.kind is p.VAR_POSITIONAL:
            star = True
        if p.kind is p.VAR_KEYWORD:
            text = f"**{p.name}"
        if p.annotation is not p.empty:
            text += f": {_text(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    result = ""
    if signature.return_annotation is not signature.empty:
        result = f" -> {_text(signature.return_annotation)}"
    return f"{name}({', '.join(parts)}){result}"


class Builtin:
    """A function that behaves like a pybind builtin (see the module docstring)."""

    def __init__(self, fn: Callable, overloads: tuple[Callable, ...] = ()) -> None:
        functools.update_wrapper(self, fn)
        self.__signature__ = inspect.signature(fn)
        body = inspect.cleandoc(fn.__doc__ or "")
        head = signature_line(fn.__name__, self.__signature__)
        if overloads:
            items = "\n\n".join(f"{i}. {signature_line(fn.__name__, inspect.signature(o))}\n\n"
                                f"{inspect.cleandoc(o.__doc__ or '')}"
                                for i, o in enumerate(overloads, 1))
            body = f"Overloaded function.\n\n{items}\n\n{body}"
        self.__doc__ = f"{head}\n\n{body}".rstrip() + "\n"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __get__(self, instance: object, owner: type | None = None) -> Builtin:
        return self  # never a bound method, like a builtin (and like staticmethod)

    def __repr__(self) -> str:
        return f"<built-in function {self.__name__}>"

    def __reduce__(self) -> str:
        return self.__qualname__  # pickled by reference: `module.name`, as builtins are


def builtin(fn: Callable | None = None, *, overloads: tuple[Callable, ...] = ()):
    """Decorator: `fn` as a `Builtin`. `overloads`: functions whose signatures and docstrings
    document the call forms of an overloaded builtin (pybind's "Overloaded function." list);
    `fn` itself takes them all."""
    if fn is None:
        return lambda f: Builtin(f, overloads)
    return Builtin(fn, overloads)


__all__ = ["Builtin", "builtin", "signature_line"]
