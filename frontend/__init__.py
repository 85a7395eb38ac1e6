"""frontend: what users touch — the torch API (also importable as `hxtorch`) and the CLI.

`frontend` reproduces hxtorch's core (`init_hardware`, `release_hardware`, `CalibrationPath`,
`HWDBPath`, `init_hardware_minimal`, `get_unique_identifier`, `logger`) and, in
`frontend.perceptron` (alias `ann`), the perceptron API; `import hxtorch` gives this very
module (docs/frontend.md). It reaches the chip only through `driver`.

`perceptron` is imported on first use, so that the `hxemu` command line does not pay for
importing torch. Importing the package as `hxtorch` also configures logging as hxtorch does
(`logger.bootstrap`); importing it as `frontend` leaves logging alone.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _aliases, logger
from .core import (
    CalibrationPath,
    HWDBPath,
    get_unique_identifier,
    init_hardware,
    init_hardware_minimal,
    release_hardware,
)

__version__ = "0.1.0"

_LAZY = {"perceptron": "perceptron", "ann": "perceptron", "helpers": "helpers",
         "datasets": "datasets"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


_aliases.install()

__all__ = ["CalibrationPath", "HWDBPath", "ann", "datasets", "get_unique_identifier", "helpers",
           "init_hardware", "init_hardware_minimal", "logger", "perceptron", "release_hardware"]
