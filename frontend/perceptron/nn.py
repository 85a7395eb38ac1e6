"""hxtorch's torch.nn layers: Linear, Conv1d, Conv2d, ExpandedConv1d, ReLU, ConvertingReLU.

Each layer is its torch counterpart (same parameters, so `state_dict`s move between torch,
mock and hardware models) whose forward runs the BSS-2 operation. `MACLayer` precedes the torch
class in the MRO so that the torch constructor's `reset_parameters()` call gets the BSS-2
initialisation: weights drawn for the chip's value range and the *global* mock gain, and an
automatic `num_sends` that makes the layer's output span the int8 range. Construct layers after
`set_mock_parameter`.

`Layer.__repr__` reproduces hxtorch's printout: every constructor argument whose current value
is not *identical* to its default (tuples, e.g. the conv sizes, are therefore always shown,
`bias=None` for a layer without bias, the default `weight_transform` never).

Deviations from the original (docs/frontend.md): `avg` also works for inputs of more than two
dimensions, and `ExpandedConv1d` really runs `expanded_conv1d` (the original's instance
attribute `_conv` shadows its method, so it runs plain `conv1d`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import constants
from .conv import conv1d, conv2d, expanded_conv1d
from .digital import add, converting_relu, relu
from .mock import get_mock_parameter
from .multiply import matmul

defaults = constants.defaults
Transform = Callable[[torch.Tensor], torch.Tensor]


def scale_input(x_in: torch.Tensor) -> torch.Tensor:
    """Scale the whole tensor (batch included) so that its maximum is 31 (the input range).

    The factor is a constant for autograd.
    """
    with torch.no_grad():
        max_in = torch.max(x_in)
        factor = constants.input_activation_max / max_in if max_in > 0 else 1.0
    return x_in * factor


def scale_weight(weight: torch.Tensor) -> torch.Tensor:
    """Scale weights so that the largest magnitude is 63 (the weight range)."""
    with torch.no_grad():
        max_w = torch.max(torch.abs(weight))
        factor = constants.synaptic_weight_max / max_w if max_w > 0 else 1.0
    return weight * factor


def clamp_weight_(weight: torch.Tensor) -> torch.Tensor:
    """Clamp weights to -63..63 in place and return them (the parameter itself, so gradients
    reach it unchanged)."""
    with torch.no_grad():
        torch.clamp(weight, constants.synaptic_weight_min, constants.synaptic_weight_max,
                    out=weight)
    return weight


class Layer:
    """Base of the BSS-2 layers: the `mock` flag and hxtorch's `__repr__`."""

    def __init__(self, mock: bool = False) -> None:
        self.mock = mock

    def __repr__(self) -> str:
        items = []
        for name, param in inspect.signature(type(self)).parameters.items():
            value = getattr(self, name)
            if isinstance(value, torch.Tensor):
                value = len(value) > 0
            if value is not param.default:
                items.append(f"{name}={value}")
        return f"{type(self).__name__}({', '.join(items)})"


class MACLayer(Layer):
    """A layer that multiplies on BSS-2: `num_sends`, `wait_between_events`, the transforms and
    the BSS-2 initialisation."""

    def __init__(self, num_sends: int | None = None,
                 wait_between_events: int = defaults.wait_between_events, mock: bool = False,
                 *, input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_) -> None:
        if num_sends is not None and (isinstance(num_sends, bool) or not isinstance(
                num_sends, int) or num_sends < 1):
            raise ValueError(f"num_sends must be None or an int >= 1, got {num_sends!r}")
        super().__init__(mock=mock)
        self.num_sends = num_sends
        self.wait_between_events = wait_between_events
        self.input_transform = input_transform
        self.weight_transform = weight_transform

    def reset_parameters(self, weight_mean: float = 0.0, relu_shift: int = 1) -> None:
        """BSS-2 initialisation (hxtorch): with fan_in = weight[0].numel(),

        gain_tot = 2**relu_shift * sqrt(2) / gain, std = gain_tot / sqrt(fan_in);
        num_sends = ceil(std / 21) if not set; weights ~ truncated normal(weight_mean,
        std / num_sends) within -63..63; bias ~ U(-b, b) with b = gain_tot / sqrt(fan_in) /
        (31 / sqrt(3)).
        """
        fan_in = self.weight[0].numel()
        gain_tot = 2 ** relu_shift * math.sqrt(2) / get_mock_parameter().gain
        std = gain_tot / math.sqrt(fan_in)
        if self.num_sends is None:
            self.num_sends = int(math.ceil(std / (constants.synaptic_weight_max / 3)))
        std /= self.num_sends
        torch.nn.init.trunc_normal_(self.weight, mean=weight_mean, std=std,
                                    a=constants.synaptic_weight_min,
                                    b=constants.synaptic_weight_max)
        if getattr(self, "bias", None) is not None:
            std_in = constants.input_activation_max / math.sqrt(3)
            bound = gain_tot / math.sqrt(fan_in) / std_in
            torch.nn.init.uniform_(self.bias, -bound, bound)


class Linear(MACLayer, torch.nn.Linear):
    """`torch.nn.Linear` on BSS-2; with `avg > 1` every output is the mean of `avg` hardware
    columns with the same weights (less noise)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 num_sends: int | None = None,
                 wait_between_events: int = defaults.wait_between_events, mock: bool = False,
                 *, avg: int = 1, input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_) -> None:
        if isinstance(avg, bool) or not isinstance(avg, int) or avg < 1:
            raise ValueError(f"avg must be an int >= 1, got {avg!r}")
        MACLayer.__init__(self, num_sends, wait_between_events, mock,
                          input_transform=input_transform, weight_transform=weight_transform)
        self.avg = avg
        torch.nn.Linear.__init__(self, in_features, out_features, bias)
        self._matmul = matmul

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if self.weight_transform is not None:
            weight = self.weight_transform(weight)
        if self.input_transform is not None:
            input = self.input_transform(input)
        out = self._matmul(input, weight.t().repeat_interleave(self.avg, -1),
                           num_sends=self.num_sends,
                           wait_between_events=self.wait_between_events, mock=self.mock)
        if self.avg > 1:
            shape = out.shape
            pooled = F.avg_pool1d(out.reshape(-1, 1, shape[-1]), self.avg)
            out = pooled.reshape(shape[:-1] + (pooled.shape[-1],))
        if self.bias is not None:
            out = add(out, self.bias, mock=self.mock)
        return out


class ConvNd(MACLayer, torch.nn.modules.conv._ConvNd):
    """Shared forward of the convolution layers: padding, transforms, then `self._conv`."""

    _conv: Callable[..., torch.Tensor]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.dilation not in ((1,), (1, 1)):
            raise ValueError("Dilations greater than 1 are currently not supported.")
        if self.groups > 1:
            raise ValueError("More than 1 group is currently not supported.")
        pads = self._reversed_padding_repeated_twice
        if any(pads):
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            input = F.pad(input, pads, mode=mode)
        weight = self.weight
        if self.weight_transform is not None:
            weight = self.weight_transform(weight)
        if self.input_transform is not None:
            input = self.input_transform(input)
        return self._conv(input, weight, self.bias, self.stride, num_sends=self.num_sends,
                          wait_between_events=self.wait_between_events, mock=self.mock)


class Conv1d(ConvNd, torch.nn.Conv1d):
    """`torch.nn.Conv1d` on BSS-2 (dilation 1, groups 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 num_sends: int | None = None,
                 wait_between_events: int = defaults.wait_between_events, mock: bool = False,
                 *, input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_) -> None:
        MACLayer.__init__(self, num_sends, wait_between_events, mock,
                          input_transform=input_transform, weight_transform=weight_transform)
        torch.nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                                 dilation, groups, bias, padding_mode)
        self._conv = conv1d


class Conv2d(ConvNd, torch.nn.Conv2d):
    """`torch.nn.Conv2d` on BSS-2 (dilation 1, groups 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 num_sends: int | None = None,
                 wait_between_events: int = defaults.wait_between_events, mock: bool = False,
                 *, input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_) -> None:
        MACLayer.__init__(self, num_sends, wait_between_events, mock,
                          input_transform=input_transform, weight_transform=weight_transform)
        torch.nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                                 dilation, groups, bias, padding_mode)
        self._conv = conv2d


class ExpandedConv1d(Conv1d):
    """`Conv1d` computed with `expanded_conv1d`: the kernel is unrolled `num_expansions` times
    (default: as often as the synapse array allows, min(256 // out_channels,
    (128 - kernel_size) // stride + 1))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 num_sends: int | None = None,
                 wait_between_events: int = defaults.wait_between_events, mock: bool = False,
                 *, input_transform: Transform | None = None,
                 weight_transform: Transform | None = clamp_weight_,
                 num_expansions: int | None = None) -> None:
        Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                        dilation, groups, bias, padding_mode, num_sends, wait_between_events,
                        mock, input_transform=input_transform,
                        weight_transform=weight_transform)
        if num_expansions is None:
            num_expansions = max(1, min(
                constants.hardware_matrix_width // self.out_channels,
                (constants.hardware_matrix_height - self.kernel_size[0]) // self.stride[0]
                + 1))
        self.num_expansions = num_expansions
        del self._conv  # Conv1d's instance attribute would shadow the method below

    def _conv(self, input, weight, bias, stride, num_sends, wait_between_events, mock):
        return expanded_conv1d(input, weight, bias, stride, num_expansions=self.num_expansions,
                               num_sends=num_sends, wait_between_events=wait_between_events,
                               mock=mock)

    def extra_repr(self) -> str:
        return f"num_expansions={self.num_expansions}"


class ReLU(Layer, torch.nn.ReLU):
    """`torch.nn.ReLU` on int8 values (clamp(floor(x), 0, 127))."""

    def __init__(self, mock: bool = False) -> None:
        Layer.__init__(self, mock)
        torch.nn.ReLU.__init__(self)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return relu(input, mock=self.mock)


class ConvertingReLU(ReLU):
    """ReLU that converts int8 outputs into MAC inputs: clamp(floor(relu / 2**shift), 0, 31)."""

    def __init__(self, shift: int = 2, mock: bool = False) -> None:
        ReLU.__init__(self, mock)
        self.shift = shift

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return converting_relu(input, shift=self.shift, mock=self.mock)


__all__ = ["Conv1d", "Conv2d", "ConvertingReLU", "ExpandedConv1d", "Layer", "Linear",
           "MACLayer", "ReLU", "clamp_weight_", "scale_input", "scale_weight"]
