"""The default ("nightly") calibration per chip id, cached in the user's cache directory.

On the real system a nightly calix run writes `hagen_cocolist.pbin` per chip; hxemu creates it
on first use, offline, with a fixed noise seed, so it depends only on the chip id and the model
version: `$XDG_CACHE_HOME/hxemu/calibrations/model-<v>/chip-<id>/hagen_cocolist.pbin`
(default `~/.cache/...`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from ..cocolist import Cocolist
from ..cocolist_file import CocolistFileError, load_cocolist
from ..connection import EmulatorConnection
from .hagen import calibrate

CALIBRATION_SEED = 20201216  # fixed: the default calibration depends only on chip and model
FILE_NAME = "hagen_cocolist.pbin"


class CalibrationMismatchWarning(UserWarning):
    """A calibration is applied to another chip (or model version) than it was made for."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hxemu" / "calibrations"


def default_calibration_path(chip_id: int, model_version: int) -> Path:
    return cache_dir() / f"model-{model_version}" / f"chip-{chip_id}" / FILE_NAME


def default_calibration(chip_id: int, *, progress: Callable[[str], None] | None = None
                        ) -> tuple[Path, Cocolist, dict]:
    """(path, cocolist, metadata) of the cached default calibration, created on first use.

    A cached file that cannot be read (corrupted, truncated, foreign) is made again, with a
    warning: it is a cache, so nothing of the user's is lost."""
    if chip_id == "ideal":
        raise ValueError("the ideal chip has no default calibration: there is nothing to "
                         "calibrate")
    with EmulatorConnection(chip_id, seed=CALIBRATION_SEED) as conn:
        path = default_calibration_path(chip_id, conn.model_version)
        if path.exists():
            try:
                cocolist, metadata = load_cocolist(path)
                return path, cocolist, metadata
            except CocolistFileError as e:
                warnings.warn(f"the cached default calibration is unusable, making it again: "
                              f"{e}", RuntimeWarning, stacklevel=2)
        result = calibrate(conn, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        result.to_cocolist().save(path, {
            "chip_id": chip_id, "model_version": conn.model_version, "kind": "hagen",
            "seed": CALIBRATION_SEED, "summary": result.summary,
            "wall_time_s": round(result.wall_time_s, 2)})
    cocolist, metadata = load_cocolist(path)
    return path, cocolist, metadata


def apply_calibration(connection, cocolist: Cocolist, metadata: dict | None = None) -> None:
    """Base configuration + calibration onto `connection`; warns if made for another chip."""
    from ..base_config import hagen_base_configuration

    meta = metadata or {}
    for key, have in (("chip_id", connection.chip_id),
                      ("model_version", getattr(connection, "model_version", None))):
        made_for = meta.get(key)
        if made_for is not None and have is not None and made_for != have:
            warnings.warn(f"this calibration was made for {key} {made_for}, the connection has "
                          f"{key} {have}: the chip will not be calibrated well",
                          CalibrationMismatchWarning, stacklevel=2)
    program = hagen_base_configuration()
    program.extend(cocolist)
    connection.run(program.to_program())
