"""HAGEN calibration (calix-like): from a mismatched chip to a uniform one, as a cocolist.

`calibrate(connection, target=None) -> CalibrationResult` measures only through programs on
the connection; `result.to_cocolist()` / `result.apply(builder)` give the settings.
"""

from .cache import (
    CalibrationMismatchWarning,
    apply_calibration,
    cache_dir,
    default_calibration,
    default_calibration_path,
)
from .hagen import CalibrationResult, CalibrationTarget, calibrate, summary
from .search import (
    RangeLimitWarning,
    SearchResult,
    binary_search,
    linear_prediction,
    noisy_binary_search,
)

__all__ = ["CalibrationMismatchWarning", "CalibrationResult", "CalibrationTarget",
           "RangeLimitWarning", "SearchResult", "apply_calibration", "binary_search",
           "cache_dir", "calibrate", "default_calibration", "default_calibration_path",
           "linear_prediction", "noisy_binary_search", "summary"]
