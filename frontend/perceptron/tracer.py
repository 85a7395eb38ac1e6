"""Inference tracing: record a chain of hardware-mode operations, save it, replay it.

hxtorch's `InferenceTracer` collects every hardware-mode operation (`mac`, `relu`,
`converting_relu`, `add`, `argmax`; mock operations are never traced) into a grenade compute
sequence, and `inference_trace` runs a saved sequence on the chip in one go. Tracers are global
(several may be active, e.g. nested), and each checks that an operation consumes exactly the
previous traced operation's output, so the saved chain is one pipeline.

hxemu stores the chain as a list of operation records (`torch.save` of plain dicts and
tensors, loadable with `weights_only=True`) instead of a cereal archive.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from driver.mac import MAC as ChipMAC

from .. import core, logger
from .._builtin import builtin
from . import checks, rounding

_active: list[InferenceTracer] = []


class InferenceTracer:
    """Traces the hardware-mode operations between `start()` and `stop()` into `filename`."""

    def __init__(self, filename: str | os.PathLike) -> None:
        self.filename = os.fspath(filename)
        self._ops: list[dict[str, Any]] = []
        self._last_output: torch.Tensor | None = None

    def start(self) -> None:
        """Begin a fresh trace (the tracer becomes active)."""
        self._ops = []
        self._last_output = None
        if self not in _active:
            _active.append(self)

    def stop(self) -> list[str]:
        """End tracing: save the trace to `filename` and return the operation names."""
        if self in _active:
            _active.remove(self)
        torch.save({"format": "hxemu-inference-trace", "version": 1, "ops": self._ops},
                   self.filename)
        return [op["name"] for op in self._ops]

    # -- called by the operations ----------------------------------------------------------------

    def _check_input(self, value: torch.Tensor) -> None:
        logger.get("hxtorch.InferenceTracer.check_input").TRACE(
            f"input shape {list(value.shape)}")
        last = self._last_output
        if last is None:
            return
        if not (last.shape == value.shape
                and torch.equal(last, value.detach().to(last.device, last.dtype))):
            raise RuntimeError(f"Last traced output(shape: {list(last.shape)}) does not match "
                               f"given input(shape: {list(value.shape)}).")

    def _update_output(self, op: dict[str, Any], value: torch.Tensor) -> None:
        logger.get("hxtorch.InferenceTracer.update_output").TRACE(
            f"{op['name']}: output shape {list(value.shape)}")
        self._ops.append(op)
        self._last_output = value.detach().to("cpu", copy=True)


def active() -> bool:
    return bool(_active)


def check_input(value: torch.Tensor) -> None:
    """Every active tracer checks that `value` is its last traced output."""
    for tracer in _active:
        tracer._check_input(value)


def update_output(op: dict[str, Any], value: torch.Tensor) -> None:
    """Every active tracer records `op` (name and parameters) and its output `value`."""
    for tracer in _active:
        tracer._update_output(op, value)


@builtin
def inference_trace(input: torch.Tensor, filename: str | os.PathLike) -> torch.Tensor:
    """Run the trace saved in `filename` on the chip with `input` (1D or 2D).

    The input is converted like the first operation's input (activations 0..31 with hardware
    rounding for `mac`, int8 otherwise); the result has the input's shape, so only traces that
    keep the shape can be replayed (as in hxtorch). "Not final API" in hxtorch, too.
    """
    checks.tensor("inference_trace", "input", input)
    trace = torch.load(os.fspath(filename), weights_only=True)
    ops = trace.get("ops", []) if isinstance(trace, dict) else []
    if not ops:
        raise RuntimeError("Empty trace can't be run.")
    if input.dim() > 2:
        raise RuntimeError("inference_trace can only operate on 1D or 2D input.")
    x = input.detach().to("cpu", torch.float64)
    if ops[0]["name"] == "mac":
        x = rounding.half_away_from_zero(input.detach().cpu())
        rounding.check_range(x, "inputs", 0, 31, hardware=True)
    else:
        x = torch.trunc(x).clamp(-128, 127)
    conn = core.connection()
    value = x.to(torch.float32)
    for op in ops:
        value = _replay(op, value, conn)
    if value.numel() != input.numel():
        raise RuntimeError(f"inference_trace: the trace turns an input of shape "
                           f"{list(input.shape)} into {value.numel()} values; only traces that "
                           "keep the shape can be run")
    return value.reshape(input.shape).to(input.device)


def _replay(op: dict[str, Any], value: torch.Tensor, conn) -> torch.Tensor:
    """One traced operation on the chip (mac) or on the host (the digital operations)."""
    from . import digital

    name = op["name"]
    if name == "mac":
        x = value.unsqueeze(0) if value.dim() == 1 else value
        chip = ChipMAC(op["weights"].numpy(), num_sends=op["num_sends"],
                       wait_between_events=op["wait_between_events"])
        y = torch.from_numpy(chip.run(x.to(torch.int64).numpy(), conn).astype(np.float32))
        return y.squeeze(0) if value.dim() == 1 else y
    if name == "relu":
        return digital.relu_values(value)
    if name == "converting_relu":
        return digital.converting_relu_values(value, op["shift"])
    if name == "add":
        return (digital.to_int8(value) + op["other"]).clamp_(digital.INT8_MIN,
                                                             digital.INT8_MAX)
    if name == "argmax":
        values = digital.to_int8(value)
        out = (torch.argmax(values) if op["dim"] is None
               else torch.argmax(values, dim=op["dim"], keepdim=op["keepdim"]))
        return out.to(torch.float32)
    raise RuntimeError(f"inference_trace: unknown operation {name!r} in the trace")


__all__ = ["InferenceTracer", "inference_trace"]
