"""benchmarks/bench_mac.py runs end to end with a tiny batch (no timing assertions)."""

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mac_benchmark_runs_small(capsys):
    threads = torch.get_num_threads()
    bench = _load(ROOT / "benchmarks" / "bench_mac.py")
    assert bench.main(["--batch", "3", "--repeats", "1", "--yinyang-batch", "2"]) == 0
    out = capsys.readouterr().out
    for text in ("(a) chip 0", "(b) torch mock", "(c) ideal chip", "(d1) Yin-Yang layer 1",
                 "(d2) Yin-Yang layer 2", "emulated / (b) torch mock", "modelled chip time",
                 "target (issue) for (a): >= 1.0 G MAC/s (aim 1.5)",
                 "ideal chip == exact integer formula: True"):
        assert text in out
    assert torch.get_num_threads() == threads  # the benchmark restores torch's thread count
