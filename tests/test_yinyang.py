"""The main job, `hxemu yinyang`, at reduced size, run as a user runs it."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from frontend import cli
from frontend import perceptron as hxp

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("accuracy_mock", "accuracy_transfer", "accuracy_hardware", "gain", "noise_std",
        "wall_time_s", "recipe")
FIGURES = ("dataset.png", "decision_mock.png", "decision_transfer.png", "decision_hardware.png",
           "decision_maps.png", "training.png")


pytestmark = pytest.mark.usefixtures("private_calibration_cache")  # chip 0, about 5 s


def test_seed_recipe_through_the_cli(tmp_path, capsys):
    before = hxp.get_mock_parameter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["yinyang", "--recipe", "seed", "--mock-epochs", "30",
                         "--hardware-epochs", "2", "--seed", "1", "-o", str(tmp_path),
                         "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "gain factor:" in out and "noise std.:" in out
    assert "after the mock phase" in out and "after the hardware phase" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in KEYS:
        assert key in summary
    assert summary["recipe"] == "seed" and summary["calibrated"]
    assert summary["mock_phase"]["steps"] == 31 and summary["hardware_phase"]["steps"] == 3
    for key in KEYS[:3]:
        assert 0 <= summary[key] <= 1
    assert summary["accuracy_mock"] > 0.5  # 30 steps of the tutorial already learn something
    assert 0.001 < summary["gain"] < 0.004 and 0 < summary["noise_std"] < 5
    assert (tmp_path / "hagen_cocolist.pbin").stat().st_size > 0
    for name in FIGURES:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    assert sorted(summary["files"]) == sorted(FIGURES)
    assert hxp.get_mock_parameter() == before  # the global state is restored


def test_uncalibrated_control_run_as_a_module(tmp_path):
    """`python -m frontend.yinyang`, uncalibrated, hardware phase in mock mode, no figures."""
    r = subprocess.run(
        [sys.executable, "-m", "frontend.yinyang", "--recipe", "seed", "--mock-epochs", "5",
         "--hardware-epochs", "1", "--uncalibrated", "--hardware-phase-mock", "--no-figures",
         "--quiet", "--chip-id", "2", "-o", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert not summary["calibrated"] and summary["hardware_phase_mock"]
    assert summary["chip_id"] == 2 and summary["files"] == []
    assert not (tmp_path / "hagen_cocolist.pbin").exists()
    assert not list(tmp_path.glob("*.png"))


def test_yinyang_rejects_bad_options(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["yinyang", "--recipe", "nope"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["yinyang", "--mock-epochs", "-1"])
    assert "--mock-epochs: must be >= 0, got -1" in capsys.readouterr().err
