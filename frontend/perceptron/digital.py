"""The digital operations between multiplies: relu, converting_relu, add, argmax.

On the real system these run on the host as grenade transformation vertices on int8
values, so mock and hardware mode compute the same numbers: floor, clamp to int8, then the
operation. Hardware mode differs only in what the original requires around it: a connection
("No connection allocated."), inference tracing, and a few shape and argument checks. The
gradients are straight through (floor and clamping are ignored).
"""

from __future__ import annotations

import torch

from .. import core
from .._builtin import builtin
from . import checks, constants, tracer

INT8_MIN = constants.output_activation_min
INT8_MAX = constants.output_activation_max
UINT5_MAX = constants.input_activation_max


def to_int8(x: torch.Tensor) -> torch.Tensor:
    """floor, then saturate to the int8 range (as the conversion to int8 on the host)."""
    return torch.floor(x).clamp(INT8_MIN, INT8_MAX)


def _float32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32)


# -- relu -----------------------------------------------------------------------------------------

def relu_values(x: torch.Tensor) -> torch.Tensor:
    return to_int8(x).clamp_(min=0)


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, mock_mode):
        ctx.save_for_backward(input)
        if mock_mode:
            return torch.floor(input).clamp(0, INT8_MAX)
        tracer.check_input(input)
        core.connection()
        out = _float32(relu_values(input.detach()))
        tracer.update_output({"name": "relu"}, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * (input > 0), None


@builtin
def relu(input: torch.Tensor, mock: bool = False) -> torch.Tensor:
    """ReLU on int8 values: clamp(floor(input), 0, 127). Gradient: grad * (input > 0)."""
    checks.tensor("relu", "input", input)
    return ReLU.apply(input, bool(mock))


# -- converting_relu ------------------------------------------------------------------------------

def converting_relu_values(x: torch.Tensor, shift: int) -> torch.Tensor:
    return torch.floor(relu_values(x) / 2.0 ** shift).clamp_(0, UINT5_MAX)


class ConvertingReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, shift, mock_mode):
        ctx.save_for_backward(input)
        ctx.shift = shift
        if mock_mode:
            # as in hxtorch, a negative shift is not refused in mock mode (it multiplies)
            return torch.floor(torch.floor(input).clamp(0, INT8_MAX) / 2.0 ** shift).clamp(
                0, UINT5_MAX)
        if shift < 0:
            raise RuntimeError("Non-negative shift value expected.")
        tracer.check_input(input)
        core.connection()
        out = _float32(converting_relu_values(input.detach(), shift))
        tracer.update_output({"name": "converting_relu", "shift": shift}, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * (input > 0) / 2.0 ** ctx.shift, None, None


@builtin
def converting_relu(input: torch.Tensor, shift: int = 2, mock: bool = False) -> torch.Tensor:
    """ReLU that converts int8 outputs to MAC inputs: clamp(floor(relu / 2**shift), 0, 31).

    Gradient: grad * (input > 0) / 2**shift.
    """
    checks.tensor("converting_relu", "input", input)
    if isinstance(shift, bool) or not isinstance(shift, int):
        raise TypeError(f"shift must be an int, got {type(shift).__name__}")
    return ConvertingReLU.apply(input, shift, bool(mock))


# -- add ------------------------------------------------------------------------------------------

class Add(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, other, mock_mode):
        ctx.input_shape = input.shape
        ctx.other_shape = other.shape
        if mock_mode:
            return (to_int8(input) + to_int8(other)).clamp_(INT8_MIN, INT8_MAX)
        tracer.check_input(input)
        if other.dim() > input.dim():
            raise RuntimeError("add operation only supports dim(other) <= dim(input).")
        a, b = torch.broadcast_tensors(input.detach(), other.detach())
        if a.shape != input.shape:
            # the original fails reshaping the result to the input's shape here
            raise RuntimeError(f"add in hardware mode needs other to broadcast to the input's "
                               f"shape: input {list(input.shape)}, other {list(other.shape)}")
        core.connection()
        b8 = to_int8(b)
        out = _float32((to_int8(a) + b8).clamp_(INT8_MIN, INT8_MAX))
        tracer.update_output({"name": "add", "other": b8.to("cpu", torch.int64)}, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        gi = grad_output.sum_to_size(ctx.input_shape) if ctx.needs_input_grad[0] else None
        go = grad_output.sum_to_size(ctx.other_shape) if ctx.needs_input_grad[1] else None
        return gi, go, None


@builtin
def add(input: torch.Tensor, other: torch.Tensor, alpha: float = 1,
        mock: bool = False) -> torch.Tensor:
    """Saturating int8 addition: clamp(int8(input) + int8(other), -128, 127).

    Gradient: straight through to both (summed to `other`'s shape where it was broadcast).
    """
    checks.tensor("add", "input", input)
    checks.tensor("add", "other", other)
    if alpha != 1.0:
        raise RuntimeError("add only supports alpha = 1.")
    return Add.apply(input, other, bool(mock))


# -- argmax ---------------------------------------------------------------------------------------

@builtin
def argmax(input: torch.Tensor, dim: int | None = None, keepdim: bool = False,
           mock: bool = False) -> torch.Tensor:
    """Index of the maximum of the int8 values (the first one on ties). Not differentiable.

    Hardware mode follows the original: `dim` must be non-negative, `keepdim` is ignored
    without `dim`, and an active inference trace needs a 2D input with dim=1, keepdim=True.
    """
    checks.tensor("argmax", "input", input)
    values = to_int8(input.detach())
    if mock:
        return torch.argmax(values, dim=dim, keepdim=keepdim)
    if tracer.active() and not (input.dim() == 2 and dim == 1 and keepdim):
        raise RuntimeError("Tracing argmax operation only supported for 2d input with dim=1 "
                           "and keepdim enabled.")
    tracer.check_input(input)
    if dim is not None and not 0 <= dim < max(input.dim(), 1):
        raise IndexError(f"argmax in hardware mode needs 0 <= dim < {max(input.dim(), 1)}, "
                         f"got dim={dim}")
    core.connection()
    if dim is None:
        out = torch.argmax(values)
    else:
        out = torch.argmax(values, dim=dim, keepdim=keepdim)
    tracer.update_output({"name": "argmax", "dim": dim, "keepdim": bool(keepdim)},
                         out.to(torch.float32))
    return out


__all__ = ["add", "argmax", "converting_relu", "relu"]
