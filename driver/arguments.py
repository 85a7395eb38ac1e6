"""argparse types shared by every `hxemu` command, so each option is parsed by one rule."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from hwlayer.regmap.chip_id import parse_chip_id


def chip_id_argument(text: str) -> int | str:
    """argparse `type=` for `--chip-id`: an int (decimal or 0x hex) >= 0 or 'ideal'."""
    try:
        return parse_chip_id(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def int_argument(lo: int, hi: int | None = None, note: str = "") -> Callable[[str], int]:
    """An argparse `type=` of ints in lo..hi (argparse names the option in its error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            bounds = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"must be {bounds}{note}, got {value}")
        return value

    return parse


positive_argument = int_argument(1)
non_negative_argument = int_argument(0)
