"""Rounding and range rules of the two modes.

The modes round differently because the original does: mock mode uses `torch.round` (half to
even: 16.5 -> 16), hardware mode converts with C++ `std::lround` (half away from zero:
16.5 -> 17). Both then check the rounded values against the chip's ranges.
"""

from __future__ import annotations

import torch

PREFIX = "HICperceptron-X only supports"


def half_to_even(x: torch.Tensor) -> torch.Tensor:
    """Mock-mode rounding (`torch.round`)."""
    return torch.round(x)


def half_away_from_zero(x: torch.Tensor) -> torch.Tensor:
    """Hardware-mode rounding (`std::lround`) as float64, exact for every float.

    For float32 and narrower inputs |x| + 0.5 is exact in float64, so floor(|x| + 0.5) with x's
    sign is lround; wider inputs take the slower tie-fixing path.
    """
    if not x.is_floating_point():
        return x.to(torch.float64)
    if x.dtype in (torch.float32, torch.float16, torch.bfloat16):
        y = x.to(torch.float64)
        return y.abs().add_(0.5).floor_().copysign_(y)
    r = torch.round(x)
    t = torch.trunc(x)
    halfway = (x - t).abs() == 0.5
    return torch.where(halfway, t + torch.sign(x), r).to(torch.float64)


def value_range(q: torch.Tensor) -> tuple[float, float] | None:
    """(min, max) of a tensor (NaN if it holds any), or None if it is empty."""
    if q.numel() == 0:
        return None
    lo, hi = torch.aminmax(q.detach())  # propagates NaN
    lo_v, hi_v = torch.stack([lo.double(), hi.double()]).tolist()  # one device sync
    return lo_v, hi_v


def check_range(q: torch.Tensor, what: str, lo: int, hi: int, *, hardware: bool = False) -> None:
    """Raise if rounded values `q` leave [lo, hi] (NaN counts as out of range).

    OverflowError for both bounds, except hardware-mode weights below the minimum: the original
    throws std::underflow_error there, which reaches Python as RuntimeError.
    """
    check_found(value_range(q), what, lo, hi, hardware=hardware)


def check_found(found: tuple[float, float] | None, what: str, lo: int, hi: int, *,
                hardware: bool = False) -> None:
    """`check_range` on an already computed (min, max) of the rounded values (None: empty)."""
    if found is None:
        return
    mn, mx = found
    if mn >= lo and mx <= hi:
        return
    message = f"{PREFIX} {what} between {lo} and {hi}, got {mn:f} (min), {mx:f} (max)"
    if hardware and what == "weights" and mn < lo and not mx > hi:
        raise RuntimeError(message)
    raise OverflowError(message)
