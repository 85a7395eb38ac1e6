"""benchmarks/bench_frontend.py runs end to end at tiny sizes (no timing assertions)."""

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_frontend_benchmark_runs_small(capsys):
    spec = importlib.util.spec_from_file_location("bench_frontend",
                                                  ROOT / "benchmarks" / "bench_frontend.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    assert bench.main(["--repeats", "1", "--mock-batches", "5", "--hw-batch", "3"]) == 0
    out = capsys.readouterr().out
    for text in ("(m) mock-mode matmul vs torch.matmul", "(h) hardware-mode mac",
                 "frontend overhead", "(y) nn.Linear per call", "606x4 -> 128 (num_sends 34)",
                 "606x128 -> 3, avg 5 (num_sends 6)",
                 "hxp.mac / torch mock",
                 "ideal chip (hardware mode) == mock (noise 0, gain 0.002): True"):
        assert text in out
    assert torch.get_num_threads() == threads
