"""hxtorch's core: the one global connection to the (emulated) chip and its configuration.

The real hxtorch keeps two process-global singletons: the executor (the connection; null until
`init_hardware`) and the chip configuration (a lola `Chip`, default-constructed at start and
replaced only by loading a calibration). hxemu keeps the same two: `_State.connection` (a
`driver.EmulatorConnection` or None) and `_State.calibration` (a calibration cocolist applied
on top of the nominal HAGEN base configuration, or None = "uncalibrated"). Every hardware-mode
operation asks `connection()` for the connection, which raises "No connection allocated." when
there is none, exactly like the original.

Which chip: `init_hardware(..., chip_id=...)` or the environment variable HXEMU_CHIP_ID (an int
or `ideal`; default 0). Temporal-noise seed: `seed=...` or HXEMU_SEED (default: fresh
randomness).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from driver import (
    EmulatorConnection,
    calibration,
    check_chip_id,
    connection_from_env,
    parse_chip_id,
    remote_enabled,
)
from driver.base_config import hagen_base_configuration
from driver.cocolist import Cocolist
from driver.cocolist_file import load_cocolist

from . import logger

CHIP_ID_VARIABLE = "HXEMU_CHIP_ID"
SEED_VARIABLE = "HXEMU_SEED"
NO_CONNECTION = "No connection allocated."


class HWDBPath:
    """Where the hardware database is (`path`) and which calibration version to use.

    A plain holder as in hxtorch. hxemu has no hardware database: the chip comes from
    `chip_id` / HXEMU_CHIP_ID, and `init_hardware(ann=True)` uses hxemu's cached default
    calibration of that chip whatever the version says.
    """

    def __init__(self, path: str | None = None, version: str = "stable/latest") -> None:
        self.path = path
        self.version = version

    def __repr__(self) -> str:
        return f"HWDBPath(path={self.path!r}, version={self.version!r})"


class CalibrationPath:
    """Path of a calibration file (a cocolist `.pbin`) for `init_hardware`; a plain holder."""

    def __init__(self, value: str | os.PathLike) -> None:
        if not isinstance(value, str | os.PathLike):
            raise TypeError(f"CalibrationPath takes a path (str), got {type(value).__name__}")
        self.value = os.fspath(value)

    def __repr__(self) -> str:
        return f"CalibrationPath({self.value!r})"


@dataclass
class _State:
    connection: EmulatorConnection | None = None
    calibration: Cocolist | None = None  # applied on top of the base configuration
    calibration_metadata: dict | None = None


_state = _State()
_base_configuration: Cocolist | None = None


def connection() -> EmulatorConnection:
    """The global connection; RuntimeError("No connection allocated.") if there is none."""
    if _state.connection is None:
        raise RuntimeError(NO_CONNECTION)
    return _state.connection


def _base() -> Cocolist:
    global _base_configuration
    if _base_configuration is None:
        _base_configuration = hagen_base_configuration()
    return _base_configuration


def resolve_chip_id(chip_id: int | str | None = None) -> int | str:
    """`chip_id`, else HXEMU_CHIP_ID, else 0; an int >= 0 or "ideal"."""
    if chip_id is not None:
        return check_chip_id(chip_id)
    text = os.environ.get(CHIP_ID_VARIABLE, "").strip()
    return parse_chip_id(text, CHIP_ID_VARIABLE) if text else 0


def resolve_seed(seed: int | None = None) -> int | None:
    """`seed`, else HXEMU_SEED, else None (fresh randomness)."""
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        return seed
    text = os.environ.get(SEED_VARIABLE, "").strip()
    if not text:
        return None
    value = _parse_int(text, SEED_VARIABLE, "")
    if value < 0:
        raise ValueError(f"{SEED_VARIABLE} must be a non-negative int, got {text!r}")
    return value


def _parse_int(text: str, name: str, alternative: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"{name} must be an int{' ' + alternative if alternative else ''}, "
                         f"got {text!r}") from None


def _connect(chip_id: int | str | None, seed: int | None):
    """A new global connection to the chosen chip, configured with the global configuration.

    Like the original, the previous connection is released first. Without an explicit chip
    id, a remote chip selected by the environment (QUIGGELDY_ENABLED, see
    `driver.connection_from_env`) takes precedence over the in-process emulator.
    """
    release_hardware()
    if chip_id is None and remote_enabled():
        conn = connection_from_env()
    else:
        conn = EmulatorConnection(resolve_chip_id(chip_id), seed=resolve_seed(seed))
    _apply_configuration(conn)
    _state.connection = conn
    return conn


def _apply_configuration(conn) -> None:
    """Base configuration, then the calibration (if any); warns if made for another chip."""
    if _state.calibration is None:
        conn.run(_base().to_program())
    else:
        calibration.apply_calibration(conn, _state.calibration, _state.calibration_metadata)


def load_and_apply_calibration(path: str | os.PathLike) -> None:
    """Load the calibration cocolist at `path` and make it the global chip configuration.

    Errors as in hxtorch: RuntimeError("Failed to open calibration at <path>.") if the file
    cannot be opened; if it cannot be parsed, an ERROR log that explains the expected format and
    a RuntimeError naming the file and the problem.
    """
    log = logger.get("hxtorch.load_and_apply_calibration")
    path = os.fspath(path)
    log.INFO(f'Loading calibration from "{path}"')
    try:
        with open(path, "rb"):
            pass
    except OSError:
        raise RuntimeError(f"Failed to open calibration at {path}.") from None
    try:
        cocolist, metadata = load_cocolist(path)
    except Exception as e:
        log.ERROR(f"Failed to load calibration at {path}: {e}. A calibration is an hxemu "
                  "cocolist file (.pbin, e.g. from `driver.calibration` or the `hxemu` "
                  "command line).")
        raise RuntimeError(f"Failed to load calibration at {path}: {e}") from e
    _state.calibration = cocolist
    _state.calibration_metadata = metadata


def _default_calibration(chip_id: int | str) -> tuple[Cocolist, dict] | None:
    """The cached default (nightly-like) calibration of `chip_id`; None for the ideal chip."""
    log = logger.get("hxtorch.init_hardware")
    if chip_id == "ideal":
        log.WARN("the ideal chip has nothing to calibrate: init_hardware(ann=True) loads no "
                 "calibration on it")
        return None
    log.INFO(f"Loading the default calibration of chip {chip_id} (created on first use)")
    try:
        path, cocolist, metadata = calibration.default_calibration(chip_id)
    except Exception as e:
        raise RuntimeError(f"Failed to get the default calibration of chip {chip_id}: "
                           f"{e}") from e
    log.INFO(f'Default calibration of chip {chip_id} at "{path}"')
    return cocolist, metadata


def init_hardware(hwdb_path: HWDBPath | CalibrationPath | None = None, ann: bool = False, *,
                  chip_id: int | str | None = None, seed: int | None = None) -> None:
    """Connect to the (emulated) chip; the previous connection is released.

    Two forms, as the two overloads of hxtorch:

    - `init_hardware(hwdb_path=None, ann=False)`: with `ann=False` no calibration is loaded,
      the chip keeps the configuration it had: initially the uncalibrated base configuration,
      after a calibration was loaded, that calibration. With `ann=True` the cached default
      calibration of the chip is loaded (and created on first use); the ideal chip loads none.
    - `init_hardware(CalibrationPath(path))`: load that calibration file, then connect.

    `chip_id` (int or "ideal"; default HXEMU_CHIP_ID, else 0) picks the emulated chip, `seed`
    (default HXEMU_SEED, else fresh randomness) its temporal noise.
    """
    if isinstance(hwdb_path, CalibrationPath):
        if ann:
            raise TypeError("init_hardware(calibration_path) takes no `ann` argument")
        load_and_apply_calibration(hwdb_path.value)
        _connect(chip_id, seed)
        return
    if hwdb_path is not None and not isinstance(hwdb_path, HWDBPath):
        raise TypeError("init_hardware() takes an HWDBPath or a CalibrationPath, got "
                        f"{type(hwdb_path).__name__}")
    if not isinstance(ann, bool):
        raise TypeError(f"ann must be a bool, got {type(ann).__name__}")
    if not ann:
        _connect(chip_id, seed)
        return
    chip = resolve_chip_id(chip_id)
    release_hardware()
    try:
        loaded = _default_calibration(chip)
    except RuntimeError:
        _connect(chip, seed)  # as the original: the connection exists, the config is unchanged
        raise
    if loaded is not None:
        _state.calibration, _state.calibration_metadata = loaded
    _connect(chip, seed)


def init_hardware_minimal(*, chip_id: int | str | None = None, seed: int | None = None) -> None:
    """Connect with the plain base configuration: any loaded calibration is dropped.

    (The original resets the chip configuration to a default-constructed one. The emulated MAC
    needs the HAGEN base configuration to work at all, so that is hxemu's "minimal" state.)
    """
    release_hardware()
    _state.calibration = None
    _state.calibration_metadata = None
    _connect(chip_id, seed)


def release_hardware() -> None:
    """Close the connection if there is one (a no-op otherwise). The chip configuration stays."""
    conn, _state.connection = _state.connection, None
    if conn is not None:
        conn.close()


def get_unique_identifier(hwdb_path: HWDBPath | None = None) -> list[str]:
    """Identifiers of the connected chip, e.g. ["hxemu-chip-0"].

    The original dereferences a null executor without a connection; hxemu raises
    RuntimeError("No connection allocated.") instead.
    """
    if hwdb_path is not None and not isinstance(hwdb_path, HWDBPath):
        raise TypeError(f"get_unique_identifier() takes an HWDBPath, got "
                        f"{type(hwdb_path).__name__}")
    return [connection().get_unique_identifier()]


__all__ = ["CalibrationPath", "HWDBPath", "get_unique_identifier", "init_hardware",
           "init_hardware_minimal", "load_and_apply_calibration", "release_hardware"]
