"""Vectorised search steps that calibrate all instances of a setting at once (calix-like).

A search adjusts an integer setting per instance (e.g. 512 neurons, 256 drivers) so that a
measured value per instance reaches its target. `measure(settings) -> values` runs programs on
the chip; every search returns the settings with a per-instance success flag and warns, listing
the instances, when some hit the end of their range.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class RangeLimitWarning(UserWarning):
    """Some instances could not reach their target inside the setting's range."""


@dataclass
class SearchResult:
    settings: np.ndarray  # int64 per instance
    measured: np.ndarray  # the last measurement per instance
    success: np.ndarray  # bool per instance: within tolerance and not at a range limit

    @property
    def failed(self) -> np.ndarray:
        return np.flatnonzero(~self.success)


def _warn_limits(name: str, at_limit: np.ndarray) -> None:
    idx = np.flatnonzero(at_limit)
    if idx.size:
        shown = ", ".join(str(i) for i in idx[:20]) + (" ..." if idx.size > 20 else "")
        warnings.warn(f"{name}: {idx.size} instance(s) hit the range limit: {shown}",
                      RangeLimitWarning, stacklevel=3)


def binary_search(measure: Callable[[np.ndarray], np.ndarray], target, lo: int, hi: int,
                  n: int, *, increasing: bool = True, tolerance: float = np.inf,
                  name: str = "binary search") -> SearchResult:
    """Per instance, the setting in lo..hi whose measurement is closest to `target`.

    Assumes the measurement is monotonic in the setting (increasing or decreasing). Runs
    ceil(log2(hi - lo + 1)) + 1 measurement rounds for all instances together.
    """
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,))
    low = np.full(n, lo, dtype=np.int64)
    high = np.full(n, hi, dtype=np.int64)
    best = np.full(n, (lo + hi) // 2, dtype=np.int64)
    best_err = np.full(n, np.inf)
    best_val = np.full(n, np.nan)
    while (low <= high).any():
        mid = (low + high) // 2
        active = low <= high
        probe = np.where(active, mid, best)
        values = np.asarray(measure(probe), dtype=np.float64)
        err = np.abs(values - target)
        better = active & (err < best_err)
        best = np.where(better, probe, best)
        best_err = np.where(better, err, best_err)
        best_val = np.where(better, values, best_val)
        too_low = (values < target) == increasing  # go up
        low = np.where(active & too_low, mid + 1, low)
        high = np.where(active & ~too_low, mid - 1, high)
    # at a limit with the measurement still on the wrong side: the target is out of range
    below = (best_val < target) == increasing  # would need a larger setting
    wrong_side = (best == hi) & below | (best == lo) & ~below
    at_limit = wrong_side & (best_err > (tolerance if np.isfinite(tolerance) else 0.0))
    _warn_limits(name, at_limit)
    return SearchResult(best, best_val, (best_err <= tolerance) & ~at_limit)


def noisy_binary_search(measure: Callable[[np.ndarray, int], np.ndarray], target, lo: int,
                        hi: int, n: int, *, repeats: tuple[int, int] = (4, 16),
                        increasing: bool = True, tolerance: float = np.inf,
                        name: str = "noisy binary search") -> SearchResult:
    """A binary search whose measurements average more repeats as the interval shrinks.

    `measure(settings, repeats)` averages `repeats` reads; the last rounds, where a wrong step
    costs most, get the most repeats.
    """
    rounds = int(np.ceil(np.log2(hi - lo + 1))) + 1
    schedule = np.linspace(repeats[0], repeats[1], rounds).round().astype(int)
    counter = iter(schedule.tolist() + [repeats[1]] * 4)
    return binary_search(lambda s: measure(s, next(counter)), target, lo, hi, n,
                         increasing=increasing, tolerance=tolerance, name=name)


def linear_prediction(measure: Callable[[np.ndarray], np.ndarray], target, start: np.ndarray,
                      lo: int, hi: int, *, proportional: bool = False, iterations: int = 3,
                      step: int = 50, tolerance: float = np.inf,
                      name: str = "linear prediction") -> SearchResult:
    """Newton-like steps on a locally linear measurement, for all instances at once.

    `proportional`: the measurement is proportional to the setting (value = k * setting), so
    one step is setting * target / value; otherwise the slope is estimated from a second probe
    `step` away.
    """
    s = np.clip(np.asarray(start, dtype=np.int64), lo, hi)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), s.shape)
    values = np.asarray(measure(s), dtype=np.float64)
    wanted = s.astype(np.float64)
    for _ in range(iterations):
        if proportional:
            with np.errstate(divide="ignore", invalid="ignore"):
                new = np.where(values != 0, s * target / values, hi)
        else:
            probe = np.clip(s + step, lo, hi)
            probe = np.where(probe == s, np.clip(s - step, lo, hi), probe)
            v2 = np.asarray(measure(probe), dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = (v2 - values) / (probe - s)
                new = np.where(slope != 0, s + (target - values) / slope, s)
        wanted = np.nan_to_num(new, nan=(lo + hi) / 2, posinf=hi + 1, neginf=lo - 1)
        s = np.clip(np.round(wanted), lo, hi).astype(np.int64)
        values = np.asarray(measure(s), dtype=np.float64)
    err = np.abs(values - target)
    at_limit = ((wanted > hi) | (wanted < lo)) & (err > (tolerance if np.isfinite(tolerance)
                                                          else 0.0))
    _warn_limits(name, at_limit)
    return SearchResult(s, values, (err <= tolerance) & ~at_limit)
