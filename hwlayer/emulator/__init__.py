"""The emulated chip. `Chip` is the entry point; everything else here is internal."""

from __future__ import annotations

import hashlib
from pathlib import Path


def _guard_kernel_cache() -> None:
    """Drop numba's cached kernels when any emulator source changed.

    numba keys a cached function on its own file only: a kernel that calls a changed function
    of another module would load stale machine code. One digest over all sources the kernels
    are compiled from decides instead. Best effort: a read-only install just recompiles.
    """
    here = Path(__file__).parent
    sources = sorted(here.glob("*.py")) + sorted((here.parent / "regmap").glob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "hxemu-kernels.stamp"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass


_guard_kernel_cache()

from .chip import Chip, ExecutionResult, ProgramError  # noqa: E402
from .identity import MODEL_VERSION  # noqa: E402

__all__ = ["Chip", "ExecutionResult", "MODEL_VERSION", "ProgramError"]
