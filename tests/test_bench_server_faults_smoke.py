"""benchmarks/bench_server_faults.py runs end to end, small: two honest clients, the quick
attacks, a 1 s hello deadline (no timing or memory assertions: those are the benchmark's)."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fault_benchmark_runs_small(capsys):
    main = runpy.run_path(str(ROOT / "benchmarks" / "bench_server_faults.py"))["main"]
    assert main(["--clients", "2", "--base-s", "1", "--attack-s", "1",
                       "--hello-timeout", "1",
                       "--attacks", "big-hellos,slow-hello,deep-json,madc-result"]) == 0
    out = capsys.readouterr().out
    assert "all exact: True" in out and "target: every honest result exact: met" in out
    for text in ("6 x TOO_LARGE", "TRUNCATED after", "answered TOO_LARGE, MALFORMED",
                 "x 5: answered 5 x PROGRAM_FAILED", "idle-sockets  not run",
                 "server memory (RSS): before"):
        assert text in out, out
