"""Which chips exist: the one rule for chip ids, shared by every layer and every parser.

A chip id is a non-negative int (it seeds the chip's fixed pattern, see docs/analog-model.md)
or the string "ideal" (the exact chip without mismatch or noise). Text forms (command line,
environment variables) accept decimal and 0x-prefixed hexadecimal ints.
"""

from __future__ import annotations

import numpy as np

IDEAL = "ideal"


def check_chip_id(value: object, name: str = "chip_id") -> int | str:
    """`value` as a chip id (a Python int or "ideal"); TypeError/ValueError naming `name`."""
    if value == IDEAL:
        return IDEAL
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int or {IDEAL!r}, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int or {IDEAL!r}, got {value}")
    return int(value)


def int_from_text(text: str) -> int:
    """The one text form of ints in chip ids and environment variables: decimal or 0x hex
    ("007" is decimal 7, not an error); ValueError otherwise."""
    try:
        return int(text, 0)
    except ValueError:
        return int(text, 10)


def parse_chip_id(text: str, name: str = "chip id") -> int | str:
    """A chip id from text ("ideal", "3", "0x10"); ValueError naming `name` and the text."""
    stripped = text.strip()
    if stripped == IDEAL:
        return IDEAL
    try:
        value = int_from_text(stripped)
    except ValueError:
        raise ValueError(f"{name} must be a non-negative int or {IDEAL!r}, "
                         f"got {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int or {IDEAL!r}, got {text!r}")
    return value
