"""hxtorch's core: the one global connection to the (emulated) chip and its configuration.

The real hxtorch keeps two process-global singletons: the executor (the connection; null until
`init_hardware`) and the chip configuration (a lola `Chip`, default-constructed at start and
replaced only by loading a calibration). hxemu keeps the same two: `_State.connection` (a
`driver.EmulatorConnection`, a `driver.RemoteConnection` or None) and `_State.calibration` (a
calibration cocolist applied on top of the nominal HAGEN base configuration, or None =
"uncalibrated"). Every hardware-mode
operation asks `connection()` for the connection, which raises "No connection allocated." when
there is none, exactly like the original.

Which chip: `init_hardware(..., chip_id=...)`, else the chip server selected by QUIGGELDY_*,
else HXEMU_CHIP_ID (an int or `ideal`; default 0). Temporal-noise seed: `seed=...` or
HXEMU_SEED (default: fresh randomness). The variables are parsed by `driver.environment`, the
same parser `driver.connection_from_env` uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from driver import (
    EmulatorConnection,
    RemoteConnection,
    calibration,
    check_chip_id,
    connection_from_env,
    environment,
)
from driver.base_config import hagen_base_configuration
from driver.cocolist import Cocolist
from driver.cocolist_file import load_cocolist

from . import logger
from ._builtin import builtin

NO_CONNECTION = "No connection allocated."
Connection = EmulatorConnection | RemoteConnection


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
    connection: Connection | None = None
    calibration: Cocolist | None = None  # applied on top of the base configuration
    calibration_metadata: dict | None = None


_state = _State()
_base_configuration: Cocolist | None = None


def connection() -> Connection:
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
    """`chip_id`, else HXEMU_CHIP_ID, else 0; an int >= 0 or "ideal" (`driver.environment`)."""
    return check_chip_id(chip_id) if chip_id is not None else environment.chip_id_from_env()


def resolve_seed(seed: int | None = None) -> int | None:
    """`seed`, else HXEMU_SEED, else None (fresh randomness) (`driver.environment`)."""
    return environment.check_seed(seed) if seed is not None else environment.seed_from_env()


def _open(chip_id: int | str | None, seed: int | None) -> Connection:
    """A new connection to the chosen chip, not configured yet.

    Without an explicit chip id, the chip server selected by the environment
    (QUIGGELDY_ENABLED, see `driver.connection_from_env`) takes precedence over the
    in-process emulator, as hxcomm's connection precedence does.
    """
    if chip_id is None and environment.remote_enabled():
        return connection_from_env()
    return EmulatorConnection(resolve_chip_id(chip_id), seed=resolve_seed(seed))


def _install(conn: Connection) -> None:
    """Configure `conn` with the global configuration and make it the global connection."""
    _apply_configuration(conn)
    _state.connection = conn


def _connect(chip_id: int | str | None, seed: int | None) -> None:
    """Like the original: release the previous connection, then connect and configure."""
    release_hardware()
    _install(_open(chip_id, seed))


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


def _init_from_hwdb(hwdb_path: HWDBPath | None = None, ann: bool = False, *,
                    chip_id: int | str | None = None, seed: int | None = None) -> None:
    """Connect. With `ann=False` no calibration is loaded: the chip keeps the configuration
    it had (initially the uncalibrated base configuration, after a calibration was loaded,
    that calibration). With `ann=True` the connected chip's cached default calibration is
    loaded (created on first use); the ideal chip loads none."""


def _init_from_calibration(calibration_path: CalibrationPath, *,
                           chip_id: int | str | None = None, seed: int | None = None) -> None:
    """Load the calibration file `calibration_path`, then connect."""


@builtin(overloads=(_init_from_hwdb, _init_from_calibration))
def init_hardware(hwdb_path: HWDBPath | CalibrationPath | None = None, ann: bool = False, *,
                  calibration_path: CalibrationPath | None = None,
                  chip_id: int | str | None = None, seed: int | None = None) -> None:
    """Connect to the (emulated) chip; the previous connection is released.

    Which chip: `chip_id` (int or "ideal"), else the chip server if QUIGGELDY_ENABLED is set
    (then the calibration of `ann=True` is that of the server's chip), else HXEMU_CHIP_ID,
    else chip 0. `seed` (default HXEMU_SEED, else fresh randomness) seeds the emulated chip's
    temporal noise. `chip_id` and `seed` are hxemu's keyword-only extras.
    """
    if isinstance(hwdb_path, CalibrationPath):
        hwdb_path, calibration_path = None, hwdb_path
    elif calibration_path is not None and hwdb_path is not None:
        raise TypeError("init_hardware() takes either hwdb_path or calibration_path, not both")
    if calibration_path is not None:
        if not isinstance(calibration_path, CalibrationPath):
            raise TypeError(f"calibration_path must be a CalibrationPath, got "
                            f"{type(calibration_path).__name__}")
        if ann:
            raise TypeError("init_hardware(calibration_path) takes no `ann` argument")
        load_and_apply_calibration(calibration_path.value)
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
    release_hardware()
    conn = _open(chip_id, seed)
    try:
        loaded = _default_calibration(conn.chip_id)  # the connected chip's, local or remote
    except RuntimeError:
        _install(conn)  # as the original: the connection exists, the config is unchanged
        raise
    except BaseException:
        conn.close()
        raise
    if loaded is not None:
        _state.calibration, _state.calibration_metadata = loaded
    _install(conn)


@builtin
def init_hardware_minimal(*, chip_id: int | str | None = None, seed: int | None = None) -> None:
    """Connect with the plain base configuration: any loaded calibration is dropped.

    (The original resets the chip configuration to a default-constructed one. The emulated MAC
    needs the HAGEN base configuration to work at all, so that is hxemu's "minimal" state.)
    """
    release_hardware()
    _state.calibration = None
    _state.calibration_metadata = None
    _connect(chip_id, seed)


@builtin
def release_hardware() -> None:
    """Close the connection if there is one (a no-op otherwise). The chip configuration stays."""
    conn, _state.connection = _state.connection, None
    if conn is not None:
        conn.close()


@builtin
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
