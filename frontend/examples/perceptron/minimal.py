"""hxtorch's minimal example: one multiplication on the (emulated) chip.

`init_hardware()` (no calibration, as in hxtorch), a 128 x 256 weight matrix of 20s and an
input of 10s ("this weight uses the whole upper half of the chip"), `matmul` in hardware mode,
the mean input, weight and output logged on `hxtorch.examples.minimal`. A linear chip with the
mock gain 0.002 gives about 10 * 20 * 128 * 0.002 = 51.2 per output.
"""

from __future__ import annotations

import argparse
import sys

import torch

import frontend as hxtorch  # `hxtorch` is this package's second name (docs/frontend.md)
from frontend import logger
from frontend import perceptron as hxann


def get_parser() -> argparse.ArgumentParser:
    """The command line (no options; hxemu's chip is chosen by HXEMU_CHIP_ID or QUIGGELDY_*)."""
    return argparse.ArgumentParser(description="hxtorch's minimal example: one matmul on "
                                   "the chip")


def main(args: argparse.Namespace | None = None) -> torch.Tensor:
    """Run one matmul on the chip and log the means; returns the output."""
    log = logger.get("hxtorch.examples.minimal")
    hxtorch.init_hardware()
    try:
        x = torch.full((128,), 10.)  # input range: 0...31
        w = torch.full((128, 256), 20.)  # weight range: -63...63; the whole upper half
        out = hxann.matmul(x, w, num_sends=1, wait_between_events=5)  # output: -128...127
        log.INFO(f"mean input: {x.mean():.1f}, mean weight: {w.mean():.1f}, mean output: "
                 f"{out.mean():.1f}")
        return out
    finally:
        hxtorch.release_hardware()


if __name__ == "__main__":
    main(get_parser().parse_args())
    sys.exit(0)
