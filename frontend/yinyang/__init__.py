"""The main job: the Yin-Yang hardware-in-the-loop tutorial on the emulated chip, end to end.

`hxemu yinyang` (or `python -m frontend.yinyang`) runs the workflow of the BSS-2 tutorial
"Train DNNs on BrainScaleS-2": obtain the calibration, initialise the chip, measure the mock
parameters, train the tutorial's model in mock mode, move it onto the chip unchanged, and train
on (emulated) hardware in the loop. It prints the measured gain and noise and the accuracy on
the canonical test set after each phase, and writes PNG figures and `summary.json` to the
output folder. Two recipes (`recipes.py`): `seed` is exactly the tutorial, `best` (default) is
tuned for accuracy on the emulated chip. See docs/yinyang.md.

This module only parses arguments, so that `hxemu --help` does not import torch; the work is
done in `frontend.yinyang.run`.
"""

from __future__ import annotations

import argparse
import sys

from driver.arguments import chip_id_argument, non_negative_argument

RECIPE_NAMES = ("best", "seed")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `hxemu yinyang`."""
    p.add_argument("--recipe", choices=RECIPE_NAMES, default="best",
                   help="'seed': exactly the tutorial; 'best' (default): tuned for accuracy on "
                        "the emulated chip (docs/yinyang.md)")
    p.add_argument("--chip-id", type=chip_id_argument, default=None,
                   help="emulated chip: an int or 'ideal' (default: HXEMU_CHIP_ID, else 0)")
    p.add_argument("--seed", type=non_negative_argument, default=0,
                   help="seed of the initialisation, the training data, the mock noise and "
                        "the chip's temporal noise (default 0)")
    p.add_argument("-o", "--output", default="yinyang-out",
                   help="output folder for the figures, summary.json and the calibration "
                        "(default ./yinyang-out)")
    p.add_argument("--mock-epochs", type=non_negative_argument, default=None,
                   help="epochs of the mock phase (default: the recipe's; seed: 200)")
    p.add_argument("--hardware-epochs", type=non_negative_argument, default=None,
                   help="epochs of the hardware phase (default: the recipe's; seed: 15)")
    p.add_argument("--uncalibrated", action="store_true",
                   help="no calibration: the chip keeps its base configuration, and the mock "
                        "parameters are measured on it")
    p.add_argument("--hardware-phase-mock", action="store_true",
                   help="run the 'hardware' phase in mock mode too (a control experiment)")
    p.add_argument("--no-figures", action="store_true", help="write no PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hxemu yinyang", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def run_from_args(args: argparse.Namespace) -> dict:
    """Run the job for parsed arguments; returns the summary (also in summary.json)."""
    from .run import Options, run

    return run(Options(recipe=args.recipe, chip_id=args.chip_id, seed=args.seed,
                       output=args.output, mock_epochs=args.mock_epochs,
                       hardware_epochs=args.hardware_epochs, uncalibrated=args.uncalibrated,
                       hardware_phase_mock=args.hardware_phase_mock,
                       figures=not args.no_figures, progress=not args.quiet))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_from_args(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
