"""Wall time of the full-chip HAGEN calibration (target: under 30 s on a 2-core machine).

    python benchmarks/bench_calibration.py [--chips 0 1] [--seed 11]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from driver import EmulatorConnection
from driver.calibration import CalibrationTarget, RangeLimitWarning, calibrate, summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=int, nargs="+", default=[0, 1])
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    EmulatorConnection(0).close()  # warm the numba caches outside the measurement
    print(f"{'chip':>4} {'wall s':>7} {'gain CV':>8} {'gain':>7} {'rest std':>8} "
          f"{'drivers':>8}")
    for chip in args.chips:
        conn = EmulatorConnection(chip, seed=args.seed)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RangeLimitWarning)
            calibrate(conn, measure_summary=False)
        wall = time.perf_counter() - t0
        s = summary(conn, CalibrationTarget())
        print(f"{chip:>4} {wall:>7.1f} {s['gain_cv']:>8.2%} {s['gain_median']:>7.4f} "
              f"{s['resting_read_std']:>8.2f} {s['driver_mismatch']:>8.2f}")
    print("target: full-chip calibration under 30 s (calix on the real chip takes minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
