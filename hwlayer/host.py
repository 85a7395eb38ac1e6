"""Host-side resources of a run, shared by the emulator and the driver: reusable scratch
buffers and the helper thread (`HXEMU_HOST_THREADS`, docs/performance.md).

Scratch buffers: for the emulator's results and the driver's programs.

A large program touches megabytes of fresh memory per run; the page faults of fresh buffers
cost more than the work that fills them. A `Scratch` hands out views of one buffer that it
reuses as long as no earlier view is alive (a result or a program still held elsewhere keeps
its buffer, and the next call gets a fresh one), so reuse never changes what a caller sees.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np


class Scratch:
    """One reusable buffer of `dtype` (grown on demand, never shared while in use)."""

    def __init__(self, dtype) -> None:
        self._buffer = np.empty(0, dtype=dtype)
        self._lock = threading.Lock()

    def get(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised array of `shape`: a view of the buffer if nothing holds it."""
        with self._lock:
            buf = self._buffer
            # references: the attribute, `buf`, getrefcount's argument; any more is a view
            if sys.getrefcount(buf) > 3 or buf.shape[:-1] != shape[:-1] \
                    or buf.shape[-1] < shape[-1]:
                buf = self._buffer = np.empty(shape, dtype=buf.dtype)
            return buf[..., :shape[-1]]


THREADS_ENV = "HXEMU_HOST_THREADS"


def host_threads() -> int:
    """Threads a run may use on the host: $HXEMU_HOST_THREADS, 1 or 2 (default 2 where the
    machine has two cores or more). With 2, one helper thread draws the next program's noise
    and does the host's O(words) bookkeeping while the executor runs (docs/performance.md);
    results do not depend on it."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return 2 if (os.cpu_count() or 1) > 1 else 1
    if text not in ("1", "2"):
        raise ValueError(f"{THREADS_ENV} must be 1 or 2, got {text!r}")
    return int(text)


class _Helper:
    """The one helper thread of a process (started on first use, again after a fork)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pid = -1

    def submit(self, job: Callable[..., Any], *args: Any) -> Future:
        if self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="hxemu-host")
            self._pid = os.getpid()
        return self._pool.submit(job, *args)


HELPER = _Helper()
