"""The argument checks every operation shares, the same in mock and hardware mode.

The chip multiplies real numbers of a fixed range: a bool or complex tensor, an empty inner
dimension, a send count below 1 or a negative wait has no meaning there, so mock mode refuses
them too instead of computing something (the original's mock returns noise for num_sends=0 and
the negated product for num_sends=-1). Only metadata is inspected: no pass over the data.
"""

from __future__ import annotations

import numpy as np
import torch

from driver.mac import WAIT_LIMIT


def tensor(op: str, name: str, value: object) -> torch.Tensor:
    """`value` as an operand: a real (float or integer, not bool) tensor, else TypeError."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be a torch.Tensor, got "
                        f"{type(value).__name__}")
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{op}(): argument '{name}' must be a real float or integer tensor, "
                        f"got dtype {value.dtype} (shape {list(value.shape)})")
    return value


def integer(op: str, name: str, value: object, minimum: int,
            maximum: int | None = None) -> int:
    """`value` as a Python int in [minimum, maximum): TypeError / ValueError naming it."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{op}(): argument '{name}' must be an int, got "
                        f"{type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value >= maximum):
        allowed = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum - 1}"
        raise ValueError(f"{op}(): argument '{name}' must be an int {allowed}, got {value}")
    return int(value)


def timing(op: str, num_sends: object, wait_between_events: object) -> tuple[int, int]:
    """num_sends an int >= 1, wait_between_events an int in 0..2**20-1 (FPGA cycles)."""
    return (integer(op, "num_sends", num_sends, 1),
            integer(op, "wait_between_events", wait_between_events, 0, WAIT_LIMIT))


def multiply(op: str, x: torch.Tensor, weights: torch.Tensor, names: tuple[str, str]) -> None:
    """Operands of a MAC: real tensors, x 1D or 2D, weights 2D, a non-empty, matching inner
    dimension (RuntimeError naming both shapes)."""
    tensor(op, names[0], x)
    tensor(op, names[1], weights)
    if weights.dim() != 2:
        raise RuntimeError("HICperceptron-X only supports 2D weight matrices")
    if x.dim() not in (1, 2):
        raise RuntimeError("HICperceptron-X only supports 1D or 2D input")
    inner(op, x, weights, names)


def inner(op: str, x: torch.Tensor, weights: torch.Tensor, names: tuple[str, str]) -> None:
    """x's last dimension must be weights' first and not empty (RuntimeError, both shapes)."""
    if x.shape[-1] != weights.shape[0]:
        # the original's mock ignores extra weight rows or raises IndexError here
        raise RuntimeError(f"HICperceptron-X only supports input lengths that match the "
                           f"corresponding weight matrix dim size: {names[0]} of shape "
                           f"{list(x.shape)}, {names[1]} of shape {list(weights.shape)}")
    if x.shape[-1] == 0:
        raise RuntimeError(f"{op}(): the inner dimension is empty: {names[0]} of shape "
                           f"{list(x.shape)}, {names[1]} of shape {list(weights.shape)} (a "
                           "multiply needs at least one input row)")


__all__ = ["WAIT_LIMIT", "inner", "integer", "multiply", "tensor", "timing"]
