"""argparse types shared by every `hxemu` command, so each option is parsed by one rule."""

from __future__ import annotations

import argparse

from hwlayer.regmap.chip_id import parse_chip_id


def chip_id_argument(text: str) -> int | str:
    """argparse `type=` for `--chip-id`: an int (decimal or 0x hex) >= 0 or 'ideal'."""
    try:
        return parse_chip_id(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
