"""Wall times and accuracies of the Yin-Yang job (`hxemu yinyang`), and the experiments.

    python benchmarks/bench_yinyang.py                 # seed and best recipe, once each
    python benchmarks/bench_yinyang.py --experiments   # also: 5 seeds chip vs mock, uncalibrated

The first run of a fresh checkout compiles the emulator (numba cache) and calibrates chip 0
(cached); the script warms both up with a tiny run before timing. Targets (warm): seed recipe
<= 30 s, best recipe <= 120 s; best recipe >= 95 % on the canonical test set.

Experiments:
- `seeds`: the seed recipe with seeds 0..4 on the calibrated default chip, against the same
  protocol with the hardware phase in mock mode too (`--hardware-phase-mock`); the medians
  should agree within 4 points.
- `uncalibrated`: the seed and best recipes on the uncalibrated chip: the accuracy lost when
  the mock model moves onto the chip (mock - transfer) and what the hardware phase recovers
  (hardware - transfer), next to the calibrated chip.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frontend.yinyang.run import Options, run  # noqa: E402


def job(workdir: Path, **kwargs) -> dict:
    options = Options(output=str(workdir / "out"), progress=False, **kwargs)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(options)


def line(name: str, s: dict) -> str:
    return (f"{name:<34} mock {s['accuracy_mock']:6.1%}  transfer {s['accuracy_transfer']:6.1%}"
            f"  hardware {s['accuracy_hardware']:6.1%}  gain {s['gain']:.5f}  noise "
            f"{s['noise_std']:.2f}  wall {s['wall_time_s']:6.1f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chip-id", type=int, default=0)
    p.add_argument("--experiments", action="store_true", help="also run the experiments")
    p.add_argument("--seeds", type=int, default=5, help="seeds of the seed experiment")
    p.add_argument("--recipes", default="seed,best", help="recipes to time")
    p.add_argument("--json", default=None, help="write all results to this file")
    args = p.parse_args(argv)
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        job(work, recipe="seed", chip_id=args.chip_id, mock_epochs=2, hardware_epochs=1)  # warm
        print(f"chip {args.chip_id}, warm numba and calibration caches")
        for recipe in args.recipes.split(","):
            s = job(work, recipe=recipe, chip_id=args.chip_id)
            results[f"recipe_{recipe}"] = s
            print(line(f"recipe {recipe}", s), flush=True)
        if args.experiments:
            for mode in ("chip", "mock"):
                runs = [job(work, recipe="seed", chip_id=args.chip_id, seed=seed,
                            hardware_phase_mock=mode == "mock", figures=False)
                        for seed in range(args.seeds)]
                for seed, s in enumerate(runs):
                    print(line(f"seed recipe, seed {seed}, {mode}", s), flush=True)
                results[f"seeds_{mode}"] = runs
            medians = {mode: statistics.median(s["accuracy_hardware"]
                                               for s in results[f"seeds_{mode}"])
                       for mode in ("chip", "mock")}
            diff = medians["chip"] - medians["mock"]
            print(f"median after the hardware phase: chip {medians['chip']:.1%}, hardware phase "
                  f"in mock mode {medians['mock']:.1%}: difference {diff * 100:+.1f} points "
                  f"({'within' if abs(diff) <= 0.04 else 'NOT within'} 4 points)")
            results["seeds_medians"] = medians
            for recipe in args.recipes.split(","):
                for calibrated in (True, False):
                    s = job(work, recipe=recipe, chip_id=args.chip_id,
                            uncalibrated=not calibrated, figures=False)
                    key = f"{recipe}_{'calibrated' if calibrated else 'uncalibrated'}"
                    results[key] = s
                    loss = (s["accuracy_mock"] - s["accuracy_transfer"]) * 100
                    gain = (s["accuracy_hardware"] - s["accuracy_transfer"]) * 100
                    print(line(key.replace("_", ", "), s) + f"  transfer loss {loss:+.1f}, "
                          f"recovery {gain:+.1f} points", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
