"""The tutorial helpers (`_static/common/helpers.py` of the BSS-2 demos), offline.

The seed tutorial runs `setup_hardware_client()` and `save_nightly_calibration(...)` from its
helper module; with `from hxtorch.helpers import ...` instead, its setup and calibration cells
run unchanged against the emulated chip (in-process, or a `hxemu serve` chip server).
"""

from __future__ import annotations

import os
from pathlib import Path

from driver import connection_from_env, remote_enabled
from driver.calibration import default_calibration
from driver.cocolist import Cocolist
from driver.cocolist_file import atomic_write_bytes, save_or_keep

__all__ = ["save_nightly_calibration", "save_or_keep", "setup_hardware_client"]

from . import logger
from .core import resolve_chip_id

_log = logger.get("hxtorch.helpers")


def setup_hardware_client() -> None:
    """Choose the chip `init_hardware` will use and check that it answers.

    As in the demos: with `QUIGGELDY_IP` and `QUIGGELDY_PORT` set, the remote chip server is
    enabled (`QUIGGELDY_ENABLED=1`, user `QUIGGELDY_USER_NO_MUNGE` or `$USER`). Otherwise the
    in-process emulator is used (chip `HXEMU_CHIP_ID`, default 0) — where the original raises
    because no hardware is reachable — and one log line says so.
    """
    env = os.environ
    if not remote_enabled() and env.get("QUIGGELDY_IP") and env.get("QUIGGELDY_PORT"):
        env["QUIGGELDY_ENABLED"] = "1"
        env.setdefault("QUIGGELDY_USER_NO_MUNGE", env.get("USER", "hxemu"))
    if not remote_enabled():
        _log.INFO(f"No remote chip configured (QUIGGELDY_IP/QUIGGELDY_PORT): using the "
                  f"in-process hxemu emulator, chip {resolve_chip_id()}")
        return
    with connection_from_env() as conn:
        _log.INFO(f"Connection to {conn.get_unique_identifier()} established")


def save_nightly_calibration(filename: str = "hagen_cocolist.pbin",
                             source_folder: str | None = None,
                             folder: str | os.PathLike | None = None, *,
                             chip_id: int | str | None = None) -> Path:
    """Write the chip's default ("nightly") calibration to `folder/filename` (default: cwd).

    The calibration is hxemu's cached default of chip `chip_id` (default: the current chip id,
    `HXEMU_CHIP_ID`, else 0),
    created on first use (seconds, with a progress bar); `source_folder` (which nightly
    flavour on the real system) has no effect. On the ideal chip an empty calibration is
    written: there is nothing to calibrate.
    """
    target = Path(folder or ".") / filename
    chip_id = resolve_chip_id(chip_id)
    if source_folder is not None:
        _log.INFO(f"source_folder={source_folder!r} has no effect on the emulated chip")
    target.parent.mkdir(parents=True, exist_ok=True)
    if chip_id == "ideal":
        _log.WARN("the ideal chip has nothing to calibrate: writing an empty calibration")
        Cocolist().save(target, {"chip_id": "ideal", "kind": "hagen", "model_version": None})
        return target
    from tqdm import tqdm

    bars = []  # the bar appears only if the calibration is really made (not cached)

    def progress(step: str) -> None:
        if not bars:
            bars.append(tqdm(total=10, desc=f"calibrating chip {chip_id} (first use)",
                             unit="step", leave=False))
        bars[0].set_postfix_str(step)
        bars[0].update(1)

    try:
        source, _, _ = default_calibration(chip_id, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    # atomically, with the permissions of any other new file: never a half-written calibration
    # or a temporary file left behind (interrupted included)
    atomic_write_bytes(target, source.read_bytes())
    _log.INFO(f'Default calibration of chip {chip_id} written to "{target}"')
    return target
