"""Convolutions lowered to `matmul`.

Each output position becomes one MAC input vector of length C * prod(kernel) ordered
(C, k_1, ..., k_d), multiplied with the (C * prod(kernel), out_channels) weight matrix; so the
128-row chunking, digitization and noise are exactly those of `matmul`, and the gradients come
from torch's autograd of the patch extraction plus the MAC's gradient model (input and weight
gradients are the torch conv gradients times gain * num_sends, the bias gradient is plain).
Only stride is an argument: padding is done by the nn layers, dilation and groups are 1.

The original extracts the patches with `as_strided(..., storage_offset=0)`, which reads the
wrong memory for an input view that starts at a non-zero storage offset; hxemu uses
`Tensor.unfold`, which is right for every layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._builtin import builtin
from . import checks, constants
from .multiply import matmul


def _stride(stride: int | Sequence[int], d: int) -> tuple[int, ...]:
    if isinstance(stride, bool):
        raise TypeError("stride must be an int or a sequence of ints")
    if isinstance(stride, int):
        strides = (stride,) * d
    elif isinstance(stride, Sequence) and len(stride) == d and all(
            isinstance(s, int) and not isinstance(s, bool) for s in stride):
        strides = tuple(stride)
    else:
        raise TypeError(f"stride must be an int or a sequence of {d} int(s), got {stride!r}")
    if any(s < 1 for s in strides):
        # the original divides by it (a zero stride crashes the process)
        raise RuntimeError(f"conv expects positive strides, got {strides}")
    return strides


def _check(op: str, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           d: int) -> None:
    """The operands are real tensors, then the original's checks, in its order."""
    checks.tensor(op, "input", input)
    checks.tensor(op, "weight", weight)
    if bias is not None:
        checks.tensor(op, "bias", bias)
    if weight.dim() != 2 + d:
        raise RuntimeError("conv expects a weight shape of (out_channels, in_channels, "
                           "**kernel_shape).")
    if input.dim() != 2 + d:
        raise RuntimeError("conv expects a input shape of (minibatches, in_channels, "
                           "**single_input_shape).")
    if input.shape[1] != weight.shape[1]:
        raise RuntimeError("conv expects matching in_channels in input and weight.")
    for size, k in zip(input.shape[2:], weight.shape[2:]):
        if k > size:
            raise RuntimeError(f"Input size per channel: {size}. Kernel size: {k}. Kernel size "
                               "can't be greater than actual input size")


def _conv(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
          stride: tuple[int, ...], num_sends: int, wait_between_events: int,
          mock: bool) -> torch.Tensor:
    d = len(stride)
    patches = input
    for i, (k, s) in enumerate(zip(weight.shape[2:], stride)):
        patches = patches.unfold(2 + i, k, s)  # (N, C, out_1.., k_1..)
    # (N, out_1.., C, k_1..) -> (N, out_1.., C * prod(k))
    order = (0, *range(2, 2 + d), 1, *range(2 + d, 2 + 2 * d))
    patches = patches.permute(order).flatten(d + 1)
    result = matmul(patches, weight.flatten(1).t(), num_sends, wait_between_events, mock)
    result = result.movedim(-1, 1).contiguous()  # (N, out_channels, out_1..)
    if bias is not None:
        result = result + bias.view(-1, *([1] * d))
    return result


@builtin
def conv1d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int | Sequence[int] = 1, num_sends: int = 1,
           wait_between_events: int = constants.defaults.wait_between_events,
           mock: bool = False) -> torch.Tensor:
    """1D convolution (cross-correlation, like torch) on BSS-2: input (N, C, L), weight
    (out_channels, C, k) -> (N, out_channels, (L - k) // stride + 1). The bias is added in
    float (no int8 rounding)."""
    strides = _stride(stride, 1)
    _check("conv1d", input, weight, bias, 1)
    return _conv(input, weight, bias, strides, num_sends, wait_between_events, mock)


@builtin
def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int | Sequence[int] = 1, num_sends: int = 1,
           wait_between_events: int = constants.defaults.wait_between_events,
           mock: bool = False) -> torch.Tensor:
    """2D convolution on BSS-2: input (N, C, H, W), weight (out_channels, C, kh, kw)."""
    strides = _stride(stride, 2)
    _check("conv2d", input, weight, bias, 2)
    return _conv(input, weight, bias, strides, num_sends, wait_between_events, mock)


@builtin
def expanded_conv1d(input: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor | None = None, stride: int | Sequence[int] = 1,
                    num_expansions: int = 1, num_sends: int = 1,
                    wait_between_events: int = constants.defaults.wait_between_events,
                    mock: bool = False) -> torch.Tensor:
    """`conv1d` that unrolls the kernel `num_expansions` times to fill the synapse array.

    Output channel o * E + i of the unrolled weight is the kernel shifted by i * stride, the
    unrolled stride is stride * E, and the results are interleaved back: the result equals
    `conv1d` up to the chunk-wise floor of the MAC (fixed-pattern noise cannot be compensated
    per kernel position).
    """
    (s,) = _stride(stride, 1)
    _check("expanded_conv1d", input, weight, bias, 1)
    if isinstance(num_expansions, bool) or not isinstance(num_expansions, int) \
            or num_expansions < 1:
        raise RuntimeError(f"expanded_conv1d expects num_expansions >= 1, got "
                           f"{num_expansions!r}")
    e = num_expansions
    out_channels, channels, k = weight.shape
    length = input.shape[-1]
    k_new = k + s * (e - 1)
    weight_new = weight.new_zeros((out_channels * e, channels, k_new))
    for i in range(e):
        weight_new[i::e, :, i * s:i * s + k] = weight
    bias_new = bias.repeat_interleave(e) if bias is not None else None
    stride_new = s * e
    l_out = (length - k) // s + 1
    l_out_new = ((length - k_new) // stride_new + 1) * e if length >= k_new else 0
    if l_out > l_out_new:
        input = torch.nn.functional.pad(input, (0, stride_new))
    out = _conv(input, weight_new, bias_new, (stride_new,), num_sends, wait_between_events,
                mock)
    n = out.shape[0]
    out = out.permute(0, 2, 1).reshape(n, -1, out_channels, e)
    out = out.permute(0, 2, 1, 3).reshape(n, out_channels, -1)
    return out[..., :l_out].contiguous()


__all__ = ["conv1d", "conv2d", "expanded_conv1d"]
