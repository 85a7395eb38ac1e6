"""hxtorch.helpers (the tutorial's setup and calibration cells, offline) and the calibrated
default chip through the frontend: measured mock parameters, hardware vs mock agreement."""

import logging
import os
import warnings

import numpy as np
import pytest
import torch

import hxtorch
from driver.cocolist_file import load_cocolist
from hxtorch import perceptron as hxp
from hxtorch.helpers import save_nightly_calibration, setup_hardware_client


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    for name in ("QUIGGELDY_ENABLED", "QUIGGELDY_IP", "QUIGGELDY_PORT", "HXEMU_CHIP_ID"):
        monkeypatch.delenv(name, raising=False)
    hxp.set_mock_parameter(hxp.MockParameter())
    yield
    hxtorch.init_hardware_minimal(chip_id="ideal")  # drop a loaded calibration (global state)
    hxtorch.release_hardware()
    hxp.set_mock_parameter(hxp.MockParameter())
    for name in ("QUIGGELDY_ENABLED", "QUIGGELDY_USER_NO_MUNGE"):  # set by the helper itself
        os.environ.pop(name, None)


@pytest.fixture(scope="module")
def nightly(private_calibration_cache, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tutorial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the calibration's own range diagnostics
        path = save_nightly_calibration("hagen_cocolist.pbin", folder=folder)
    return path


def test_setup_hardware_client_uses_the_emulator_offline(caplog):
    with caplog.at_level(logging.INFO, logger="hxtorch"):
        setup_hardware_client()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("hxtorch.helpers")]
    assert len(lines) == 1 and "in-process hxemu emulator, chip 0" in lines[0]
    assert "QUIGGELDY_ENABLED" not in os.environ


def test_setup_hardware_client_enables_a_configured_server(monkeypatch, caplog):
    from driver.server import LocalServer

    with LocalServer("--chip-id", "ideal") as server:
        monkeypatch.setenv("QUIGGELDY_IP", server.host)
        monkeypatch.setenv("QUIGGELDY_PORT", str(server.port))
        with caplog.at_level(logging.INFO, logger="hxtorch"):
            setup_hardware_client()
        assert os.environ["QUIGGELDY_ENABLED"] == "1"
        assert "established" in caplog.text
        hxtorch.init_hardware()  # through the server now
        x = torch.full((2, 128), 10.0)
        w = torch.full((128, 4), 20.0)
        y = hxp.matmul(x, w)
        assert (y == 10 * 20 * 128 // 500).all()


def test_save_nightly_calibration_writes_the_default_calibration(nightly):
    cocolist, meta = load_cocolist(nightly)
    assert meta["chip_id"] == 0 and meta["kind"] == "hagen" and len(cocolist) > 1000
    again = save_nightly_calibration("copy.pbin", folder=nightly.parent)  # cached: fast
    assert again.read_bytes() == nightly.read_bytes()


def test_save_nightly_calibration_on_the_ideal_chip(tmp_path, monkeypatch):
    monkeypatch.setenv("HXEMU_CHIP_ID", "ideal")
    path = save_nightly_calibration(folder=tmp_path)
    cocolist, meta = load_cocolist(path)
    assert len(cocolist) == 0 and meta["chip_id"] == "ideal"
    hxtorch.init_hardware(hxtorch.CalibrationPath(str(path)))


def test_calibrated_default_chip_mock_parameter_and_agreement(nightly):
    hxtorch.init_hardware(hxtorch.CalibrationPath(str(nightly)), chip_id=0, seed=3)
    torch.manual_seed(3)
    p = hxp.measure_mock_parameter()
    assert 0.0015 <= p.gain <= 0.0035
    assert 1.0 <= p.noise_std <= 2.5
    # a random 128 x 256 case in the linear range: hardware vs mock with the measured gain
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.integers(0, 32, (64, 128)), dtype=torch.float32)
    w = torch.tensor(rng.integers(-20, 21, (128, 256)), dtype=torch.float32)
    hw = hxp.matmul(x, w)
    hxp.set_mock_parameter(hxp.MockParameter(gain=p.gain, noise_std=0.0))
    mock = hxp.matmul(x, w, mock=True)
    linear = mock.abs() < 80
    diff = (hw - mock)[linear]
    assert abs(float(diff.mean())) <= 1.0
    assert float(diff.std()) <= 2 * p.noise_std


def test_save_nightly_calibration_writes_like_any_file_and_leaves_no_temporary(
        nightly, tmp_path, monkeypatch):
    from driver import cocolist_file as cf

    umask = cf._umask()
    path = save_nightly_calibration("mode.pbin", folder=tmp_path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600

    def interrupted(f, data):
        f.write(data[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(cf, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_nightly_calibration("mode.pbin", folder=tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mode.pbin"]
    assert path.read_bytes() == nightly.read_bytes()
