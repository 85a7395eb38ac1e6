"""`mac` and `matmul`: the analog multiply, in mock mode (torch) or on the chip (driver.mac).

Forward, mock mode: round (half to even), check the ranges, then per 128-row chunk c
of the inner dimension

    y_c = clamp(floor(num_sends * gain * (x_c @ W_c) + noise_c), -128, 127)

and y = clamp(sum_c y_c, -128, 127), noise ~ N(0, noise_std) iid per element and chunk. The
chunk sum x_c @ W_c is exact (integers below 2^24) and the scaling is done in float64, so with
noise_std 0 and gain 0.002 the mock equals the ideal chip bit for bit (the original scales in
float32 and can floor one LSB low at exact multiples). On the CPU the rounded operands are
int8 (inputs 0..31, weights -63..63: one numba pass rounds, checks and converts) and the chunk
sums come from torch's integer GEMM (`torch._int_mm`, int32 sums, about 3x faster than the
float32 GEMM here); scaling, noise, floor and clamp are one fused numba pass (digitize.py)
over cache-sized blocks of the GEMM's output. On other devices it is float32 torch operations.
Without a tensor that needs a gradient, `mac` skips autograd's Function (nothing to save).

Forward, hardware mode: round half away from zero, check the ranges, and run
`driver.mac.MAC` on the global connection (which tiles, runs, digitizes and sums the chunks
with int8 saturation exactly like grenade).

Backward, both modes: the linear model with the global gain at backward time,
grad_x = g n (grad_y @ W^T), grad_W = g n (x^T @ grad_y), straight through rounding, floor,
clamping and saturation, using the unrounded saved x and W.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from driver.mac import MAC as ChipMAC

from .. import core
from .._builtin import builtin
from . import checks, constants, digitize, mock, rounding, tracer

CHUNK = constants.hardware_matrix_height  # rows digitized together
# Mock mode on the CPU works through the batch in blocks of about this many outputs, so the
# GEMM's output is still in the cache when the digitization kernel reads it.
BLOCK_OUTPUTS = 1 << 18
NEURONS = 2 * constants.hardware_matrix_width  # AtomicNeuronOnDLS ids for the MADC
FPGA_CYCLES_PER_US = 125


def _digitize(acc: torch.Tensor, num_sends: torch.Tensor, gain: float,
              noise_std: float) -> torch.Tensor:
    """floor(acc * num_sends * gain + noise) clamped to int8, computed in float64.

    `acc * num_sends` is an exact integer in float64; multiplying it by the float64 gain rounds
    once. For gain 0.002, whose float64 is 1/500 within a relative 2.1e-17 (less than half of
    the rounding's half ulp), an exact multiple of 500 gives exactly its integer, of either
    sign, so the floor equals the ideal chip's.
    """
    y = acc * num_sends  # float64 by type promotion (num_sends is a float64 tensor)
    y.mul_(gain)
    if noise_std > 0:
        y.add_(torch.empty_like(acc).normal_(0.0, noise_std))
    return y.floor_().clamp_(constants.output_activation_min, constants.output_activation_max)


def mock_forward(x: torch.Tensor, weights: torch.Tensor, num_sends: int) -> torch.Tensor:
    """Mock-mode MAC forward (no autograd): float32 result on x's device."""
    qw = _mock_operand(weights, "weights", constants.synaptic_weight_min,
                       constants.synaptic_weight_max)
    qx = _mock_operand(x, "inputs", constants.input_activation_min,
                       constants.input_activation_max)
    k = x.shape[-1]
    x2 = qx.reshape(-1, k)
    batch, n = x2.shape[0], qw.shape[1]
    param = mock.current()
    out = torch.empty((batch, n), dtype=torch.float32, device=x.device)
    if x.device.type != "cpu":
        return _mock_device(x2, qw, num_sends, param, out).reshape(x.shape[:-1] + (n,))
    rows = max(1, BLOCK_OUTPUTS // max(n, 1))
    starts = range(0, k, CHUNK)
    scratch = torch.empty((min(rows, batch), n), dtype=torch.int32)
    for r0 in range(0, batch, rows):
        xb, ob = x2[r0:r0 + rows], out[r0:r0 + rows]
        acc = scratch[:ob.shape[0]]
        for c0 in starts:
            torch._int_mm(xb[:, c0:c0 + CHUNK], qw[c0:c0 + CHUNK], out=acc)
            mode = (digitize.WRITE if c0 == 0 else
                    digitize.ADD_AND_CLAMP if c0 == starts[-1] else digitize.ADD)
            digitize.digitize_into(acc, ob, num_sends, param.gain, param.noise_std, mode)
    return out.reshape(x.shape[:-1] + (n,))


def _mock_operand(value: torch.Tensor, what: str, lo: int, hi: int) -> torch.Tensor:
    """A mock operand rounded half to even and range-checked: on the CPU int8 in one pass (for
    the integer GEMM), elsewhere float32."""
    if value.device.type == "cpu":
        q, outside = digitize.round_int8(value, lo, hi)
    else:
        q = rounding.half_to_even(value.detach()).to(torch.float32)
        outside = rounding.value_range(q)
    rounding.check_found(outside, what, lo, hi)
    return q


def _mock_device(x2: torch.Tensor, w2: torch.Tensor, num_sends: int, param: mock.MockParameter,
                 out: torch.Tensor) -> torch.Tensor:
    """The mock on an accelerator: the same formula in torch operations, in one piece."""
    sends = torch.tensor([float(num_sends)], dtype=torch.float64, device=x2.device)
    total = None
    for c0 in range(0, x2.shape[1], CHUNK):
        y = _digitize(x2[:, c0:c0 + CHUNK] @ w2[c0:c0 + CHUNK], sends, param.gain,
                      param.noise_std)
        total = y if total is None else total.add_(y)
    out.copy_(total.clamp_(constants.output_activation_min, constants.output_activation_max))
    return out


def hardware_forward(x: torch.Tensor, weights: torch.Tensor, num_sends: int,
                     wait_between_events: int, madc_recording_neuron_id: int,
                     madc_recording_path: str) -> torch.Tensor:
    """Hardware-mode MAC forward on the global connection: float32 result on x's device."""
    tracer.check_input(x)
    x2 = x.unsqueeze(0) if x.dim() == 1 else x
    if isinstance(madc_recording_neuron_id, bool) or not isinstance(
            madc_recording_neuron_id, int) or not 0 <= madc_recording_neuron_id < NEURONS:
        raise OverflowError(f"madc_recording_neuron_id must be in 0..{NEURONS - 1}, got "
                            f"{madc_recording_neuron_id!r}")
    # rounded (half away from zero), converted and measured in one pass each
    qw, w_range = digitize.round_away_int64(weights.detach().cpu())
    qx, x_range = digitize.round_away_int64(x2.detach().cpu())
    rounding.check_found(w_range, "weights", constants.synaptic_weight_min,
                         constants.synaptic_weight_max, hardware=True)
    rounding.check_found(x_range, "inputs", constants.input_activation_min,
                         constants.input_activation_max, hardware=True)
    conn = core.connection()
    w_int = torch.from_numpy(qw)
    if qx.shape[0] == 0 or w_int.shape[1] == 0:  # nothing to send or to read
        y = np.zeros((qx.shape[0], w_int.shape[1]), dtype=np.int8)
    else:
        # the FPGA sends at most one event per clock cycle: a wait of 0 sends the events
        # back to back, which is what a wait of 1 does
        chip = ChipMAC(w_int.numpy(), num_sends=num_sends,
                       wait_between_events=max(wait_between_events, 1))
        record = bool(madc_recording_path)
        y = chip.run(qx, conn,
                     madc_neuron=madc_recording_neuron_id if record else None)
        if record:
            _write_madc_csv(madc_recording_path, *chip.last_madc)
    result = torch.from_numpy(y.astype(np.float32)).to(x.device)
    if x.dim() == 1:
        result = result.squeeze(0)
    tracer.update_output({"name": "mac", "weights": w_int, "num_sends": int(num_sends),
                          "wait_between_events": int(wait_between_events)}, result)
    return result


def _write_madc_csv(path: str, cycles: np.ndarray, values: np.ndarray) -> None:
    """The recorded membrane trace: time since the start of the run in us, MADC value."""
    table = np.column_stack([cycles / FPGA_CYCLES_PER_US, values])
    np.savetxt(os.fspath(path), table, fmt=("%.3f", "%d"), delimiter=",",
               header="time_us,madc_value", comments="")


class MAC(torch.autograd.Function):
    """The multiply-accumulate with hxtorch's straight-through gradient model."""

    @staticmethod
    def forward(ctx, x, weights, num_sends, wait_between_events, mock_mode,
                madc_recording_neuron_id, madc_recording_path):
        if mock_mode and madc_recording_path != "":
            raise RuntimeError("Recording with MADC in mock-mode is not implemented.")
        ctx.save_for_backward(x, weights)
        ctx.num_sends = num_sends
        if mock_mode:
            return mock_forward(x, weights, num_sends)
        return hardware_forward(x, weights, num_sends, wait_between_events,
                                madc_recording_neuron_id, madc_recording_path)

    @staticmethod
    def backward(ctx, grad_output):
        x, weights = ctx.saved_tensors
        go = grad_output * (mock.current().gain * ctx.num_sends)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = go.to(weights.dtype) @ weights.t()
        if ctx.needs_input_grad[1]:
            x2 = x.unsqueeze(0) if x.dim() == 1 else x
            g2 = go.unsqueeze(0) if go.dim() == 1 else go
            grad_w = x2.t() @ g2.to(x.dtype)
        return grad_x, grad_w, None, None, None, None, None


@builtin
def mac(x: torch.Tensor, weights: torch.Tensor, num_sends: int = 1,
        wait_between_events: int = constants.defaults.wait_between_events, mock: bool = False,
        madc_recording_neuron_id: int = 0, madc_recording_path: str = "") -> torch.Tensor:
    """Multiply-accumulate `x` (1D or 2D, 0..31) with `weights` (2D, -63..63) on BSS-2.

    :param x: input activations, rounded to 0..31 (mock: half to even, hardware: half away
        from zero)
    :param weights: weight matrix (in, out), rounded to -63..63
    :param num_sends: how often each input is sent (an int >= 1; multiplies the result)
    :param wait_between_events: FPGA cycles between two events (an int in 0..2**20-1; the
        FPGA sends at most one event per cycle, so 0 sends back to back, as 1 does)
    :param mock: use the software model instead of the chip
    :param madc_recording_neuron_id: neuron (0..511) whose membrane the MADC records
    :param madc_recording_path: where the MADC trace is written as CSV ("" = no recording;
        hardware mode only)
    :return: float32 integers in -128..127 of shape (out,) or (batch, out)
    """
    checks.multiply("mac", x, weights, ("x", "weights"))
    num_sends, wait_between_events = checks.timing("mac", num_sends, wait_between_events)
    if mock and madc_recording_path == "" and not (
            torch.is_grad_enabled() and (x.requires_grad or weights.requires_grad)):
        return mock_forward(x, weights, num_sends)  # nothing to record for backward
    return MAC.apply(x, weights, num_sends, wait_between_events, bool(mock),
                     madc_recording_neuron_id, os.fspath(madc_recording_path))


@builtin
def matmul(input: torch.Tensor, other: torch.Tensor, num_sends: int = 1,
           wait_between_events: int = constants.defaults.wait_between_events,
           mock: bool = False, madc_recording_neuron_id: int = 0,
           madc_recording_path: str = "") -> torch.Tensor:
    """Drop-in replacement for `torch.matmul` that uses BrainScaleS-2 (`other` 1D or 2D).

    Shapes: (K)@(K) -> (), (K)@(K,N) -> (N), (M,K)@(K) -> (M), (M,K)@(K,N) -> (M,N),
    (...,M,K)@(K) -> (...,M) and (...,M,K)@(K,N) -> (...,M,N); see `mac` for the arguments.
    (As in hxtorch, a 1D `other` with an input of >= 3 dims whose second-to-last size is 1
    loses that dimension too: (B,1,K)@(K) -> (B,).)
    """
    checks.tensor("matmul", "input", input)
    checks.tensor("matmul", "other", other)
    checks.timing("matmul", num_sends, wait_between_events)
    d1, d2 = input.dim(), other.dim()
    if d1 == 0 or d2 == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D")
    if d2 >= 3:
        raise RuntimeError(f"matmul for {d1}D and {d2}D inputs is not implemented yet :(")
    t1 = input.unsqueeze(0) if d1 == 1 else input
    t2 = other.unsqueeze(-1) if d2 == 1 else other
    checks.inner("matmul", t1, t2, ("input", "other"))
    args = (num_sends, wait_between_events, mock, madc_recording_neuron_id,
            madc_recording_path)
    if d1 <= 2:
        res = mac(t1, t2, *args)
    else:
        size = tuple(input.shape[:-1]) + ((other.shape[-1],) if d2 == 2 else ())
        res = mac(t1.reshape(-1, input.shape[-1]), t2, *args).view(size)
    if d1 == 1:
        res = res.squeeze(-2)
    if d2 == 1:
        res = res.squeeze(-1)
    return res


__all__ = ["mac", "matmul"]
