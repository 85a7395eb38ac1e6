"""The `hxemu` CLI, the low-level example and the benchmark run as a user runs them."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from frontend import cli

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_info_prints_identity_and_regions(capsys):
    assert cli.main(["info", "--chip-id", "3"]) == 0
    out = capsys.readouterr().out
    assert "chip id          : 3" in out and "JTAG IDCODE      : 0x348580c9" in out
    assert "CapMemCell" in out and "0x00140000-0x00159037" in out and "SynapseQuad" in out


def test_info_device_dna_depends_on_chip_id(capsys):
    cli.main(["info", "--chip-id", "1"])
    a = capsys.readouterr().out
    cli.main(["info", "--chip-id", "ideal"])
    b = capsys.readouterr().out
    dna = [line for line in (a + b).splitlines() if "device DNA" in line]
    assert len(set(dna)) == 2


@pytest.mark.parametrize("bad", ["-1", "x"])
def test_info_rejects_bad_chip_id(bad, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["info", "--chip-id", bad])
    assert e.value.code == 2
    assert "chip id" in capsys.readouterr().err


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "frontend.cli", "info"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0 and "register regions" in r.stdout


def test_low_level_example_reads_back_what_it_wrote(capsys):
    assert _load(ROOT / "examples" / "low_level.py").main([]) == 0
    assert "read-back matches" in capsys.readouterr().out


def test_playback_benchmark_runs_small(capsys):
    assert _load(ROOT / "benchmarks" / "bench_playback.py").main(["--words", "20000",
                                                                  "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "M words/s" in out


def test_calibration_benchmark_runs(capsys):
    assert _load(ROOT / "benchmarks" / "bench_calibration.py").main(["--chips", "1"]) == 0
    assert "target" in capsys.readouterr().out
