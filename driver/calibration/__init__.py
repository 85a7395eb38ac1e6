"""HAGEN calibration (calix-like): from a mismatched chip to a uniform one, as a cocolist.

`calibrate(connection, target=None) -> CalibrationResult` measures only through programs on
the connection; `result.to_cocolist()` / `result.apply(builder)` give the settings.
"""

from .hagen import CalibrationResult, CalibrationTarget, calibrate, summary
from .search import (
    RangeLimitWarning,
    SearchResult,
    binary_search,
    linear_prediction,
    noisy_binary_search,
)

__all__ = ["CalibrationResult", "CalibrationTarget", "RangeLimitWarning", "SearchResult",
           "binary_search", "calibrate", "linear_prediction", "noisy_binary_search", "summary"]
