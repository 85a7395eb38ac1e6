"""`hxemu train JOB`: every job on one training mechanism (docs/train.md).

Jobs: `yinyang` (the BSS-2 tutorial, as `hxemu yinyang` plus the float baseline), `digits`
(scikit-learn's 8 x 8 digits, Conv2d + 2 Linear), `mnist1d` (MNIST-1D, ExpandedConv1d layers)
and `mnist` (MNIST from local files). Each trains the float baseline, the mock phase, moves
the model onto the chip and trains with the chip in the loop (`engine.run`).

This module only parses arguments, so that `hxemu --help` does not import torch.
"""

from __future__ import annotations

import argparse
import sys

from ..yinyang import add_arguments as add_job_arguments

JOB_NAMES = ("yinyang", "digits", "mnist1d", "mnist")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `hxemu train`."""
    p.add_argument("job", choices=JOB_NAMES, help="the job to run")
    add_job_arguments(p, recipes=None, output=None)
    p.add_argument("--mock-only", action="store_true",
                   help="stop after the mock phase (no transfer, no hardware phase)")
    p.add_argument("--data-path", default=None,
                   help="folder with the data files (the mnist job: torchvision's "
                        "MNIST/processed/{training,test}.pt or the four IDX files)")
    p.add_argument("--no-float", action="store_true",
                   help="skip the float baseline (accuracy_float is then null)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hxemu train", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def run_from_args(args: argparse.Namespace) -> dict:
    """Run the job for parsed arguments; returns the summary (also in summary.json)."""
    from . import engine, jobs

    job = jobs.get(args.job)
    return engine.run(job, engine.Options(
        job=args.job, recipe=args.recipe, chip_id=args.chip_id, seed=args.seed,
        output=args.output, mock_epochs=args.mock_epochs, hardware_epochs=args.hardware_epochs,
        uncalibrated=args.uncalibrated, hardware_phase_mock=args.hardware_phase_mock,
        mock_only=args.mock_only, float_baseline=not args.no_float, data_path=args.data_path,
        figures=not args.no_figures, progress=not args.quiet))


def main(argv: list[str] | None = None) -> int:
    from .data import MissingExtraError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run_from_args(args)
    except (MissingExtraError, ValueError, OSError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    return 0
