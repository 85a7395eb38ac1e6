"""JSON with a nesting limit: Python's `json` recurses once per level, so a document of a few
hundred thousand `[` raises `RecursionError` (not a `ValueError`) on load, and so does a deeply
nested object on dump. Both directions check the depth first, without recursion."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

DEFAULT_MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*"', re.DOTALL)
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


class JSONDepthError(ValueError):
    """A JSON document (or object to dump) nested deeper than allowed."""


def text_depth(data: bytes) -> int:
    """The deepest bracket nesting of a JSON text (brackets inside strings do not count)."""
    stripped = _STRING.sub(b'""', bytes(data))
    if not stripped:
        return 0
    steps = _OPEN[np.frombuffer(stripped, dtype=np.uint8)].astype(np.int64)
    return max(int(np.cumsum(steps).max()), 0)


def loads(data: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """`json.loads` that refuses documents nested deeper than `max_depth` with
    `JSONDepthError`; other malformed input raises `json.JSONDecodeError` or
    `UnicodeDecodeError` (all are `ValueError`)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    depth = text_depth(raw)
    if depth > max_depth:
        raise JSONDepthError(f"JSON nested {depth} levels deep, more than the {max_depth} "
                             "allowed")
    return json.loads(raw.decode("utf-8"))


def check_depth(obj: Any, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """`JSONDepthError` if dicts/lists/tuples in `obj` nest deeper than `max_depth` (iterative,
    so a cyclic or very deep object ends in this error, not in `RecursionError`)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list | tuple):
            if depth > max_depth:
                raise JSONDepthError(f"nested more than {max_depth} levels deep")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)
