"""hxtorch's minimal example: a small `Linear` model on the (emulated) chip.

`init_hardware()` (no calibration, as in hxtorch), a `Linear(128, 256, bias=False)` layer whose
weights are all 20 ("this weight uses the whole upper half of the chip"), an input of 10s, one
hardware-mode forward pass, the mean input, weight and output logged on
`hxtorch.examples.minimal` and the mean output printed. A linear chip with the mock gain 0.002
gives about 10 * 20 * 128 * 0.002 = 51.2 per output.
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
    """Run the model once on the chip, log the means and print the mean output; returns the
    output."""
    log = logger.get("hxtorch.examples.minimal")
    hxtorch.init_hardware()
    try:
        model = hxann.nn.Linear(128, 256, bias=False, num_sends=1, wait_between_events=5)
        with torch.no_grad():
            model.weight.fill_(20.)  # weight range: -63...63; the whole upper half
        x = torch.full((128,), 10.)  # input range: 0...31
        with torch.no_grad():
            out = model(x)  # output range: -128...127
        log.INFO(f"mean input: {x.mean():.1f}, mean weight: {model.weight.mean():.1f}, "
                 f"mean output: {out.mean():.1f}")
        print(f"mean output: {out.mean():.1f}")
        return out
    finally:
        hxtorch.release_hardware()


if __name__ == "__main__":
    main(get_parser().parse_args())
    sys.exit(0)
