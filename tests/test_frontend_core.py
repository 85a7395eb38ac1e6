"""hxtorch core: the module aliases, init/release, chip and seed selection, calibration loading,
get_unique_identifier, the logger."""

import importlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import hxtorch
from frontend import core

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    monkeypatch.delenv("HXEMU_CHIP_ID", raising=False)
    monkeypatch.delenv("HXEMU_SEED", raising=False)
    yield
    hxtorch.release_hardware()
    core._state.calibration = None
    core._state.calibration_metadata = None


# -- one module object under both names ---------------------------------------------------------

def test_hxtorch_is_frontend_with_every_submodule():
    import frontend.perceptron.nn
    import hxtorch.ann
    import hxtorch.ann.nn
    import hxtorch.perceptron
    import hxtorch.perceptron.nn
    from hxtorch.perceptron import nn

    assert hxtorch is frontend
    assert hxtorch.perceptron is frontend.perceptron is hxtorch.ann
    assert hxtorch.perceptron.nn is frontend.perceptron.nn is nn is hxtorch.ann.nn
    assert hxtorch.perceptron.nn.Linear is frontend.perceptron.nn.Linear
    assert sys.modules["hxtorch.perceptron.nn"] is sys.modules["hxtorch.ann.nn"] is nn
    assert importlib.import_module("hxtorch.ann.constants.defaults") is \
        frontend.perceptron.constants.defaults
    # modules keep their canonical spec
    assert hxtorch.perceptron.nn.__spec__.name == "frontend.perceptron.nn"
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hxtorch.does_not_exist")


@pytest.mark.parametrize("first", ["hxtorch.perceptron.nn", "frontend", "hxtorch.ann.nn",
                                   "hxtorch.cli"])
def test_fresh_interpreter_gives_one_module_per_name(first):
    code = (f"import {first}\n"
            "import sys, hxtorch, frontend, frontend.cli, hxtorch.cli\n"
            "import hxtorch.perceptron.nn as a, frontend.perceptron.nn as b, hxtorch.ann.nn as c\n"
            "assert hxtorch is frontend and a is b is c and hxtorch.cli is frontend.cli\n"
            "assert hxtorch.ann is frontend.perceptron\n"
            "mods = [m for k, m in sys.modules.items() if k.startswith(('hxtorch', 'frontend'))]\n"
            "files = [getattr(m, '__file__', None) for m in mods]\n"
            "assert len({id(m) for m in mods}) == len(set(files)), files\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_import_surface_of_the_spec():
    for name in ("init_hardware", "init_hardware_minimal", "get_unique_identifier",
                 "release_hardware", "HWDBPath", "CalibrationPath", "logger", "perceptron",
                 "ann"):
        assert hasattr(hxtorch, name), name
    p = hxtorch.perceptron
    for name in ("get_mock_parameter", "set_mock_parameter", "mac", "measure_mock_parameter",
                 "relu", "converting_relu", "inference_trace", "argmax", "add", "matmul",
                 "conv1d", "expanded_conv1d", "conv2d", "MockParameter", "InferenceTracer",
                 "constants", "nn"):
        assert hasattr(p, name), name
    c = p.constants
    assert (c.synaptic_weight_min, c.synaptic_weight_max) == (-63, 63)
    assert (c.input_activation_min, c.input_activation_max) == (0, 31)
    assert (c.output_activation_min, c.output_activation_max) == (-128, 127)
    assert (c.hardware_matrix_height, c.hardware_matrix_width) == (128, 256)
    assert c.defaults.wait_between_events == 5 and isinstance(c.defaults.wait_between_events,
                                                               int)
    assert c.defaults.gain == 0.002 and c.defaults.noise_std == 2.0
    assert isinstance(c.defaults.gain, float) and isinstance(c.defaults.noise_std, float)
    assert "perceptron" in dir(hxtorch)


# -- connection -----------------------------------------------------------------------------------

def test_no_connection_errors_and_release_is_a_noop():
    hxtorch.release_hardware()
    hxtorch.release_hardware()
    with pytest.raises(RuntimeError, match=r"^No connection allocated\.$"):
        hxtorch.get_unique_identifier()
    with pytest.raises(RuntimeError, match=r"^No connection allocated\.$"):
        core.connection()


def test_init_release_and_identifier():
    hxtorch.init_hardware(chip_id="ideal")
    assert hxtorch.get_unique_identifier() == ["hxemu-chip-ideal"]
    assert hxtorch.get_unique_identifier(hxtorch.HWDBPath()) == ["hxemu-chip-ideal"]
    first = core.connection()
    hxtorch.init_hardware(hxtorch.HWDBPath("/some/hwdb", "stable/latest"), chip_id=3)
    assert first._closed  # the previous connection was released
    assert hxtorch.get_unique_identifier() == ["hxemu-chip-3"]
    hxtorch.release_hardware()
    with pytest.raises(RuntimeError, match="No connection allocated."):
        hxtorch.get_unique_identifier()


def test_chip_and_seed_from_environment(monkeypatch):
    monkeypatch.setenv("HXEMU_CHIP_ID", "ideal")
    hxtorch.init_hardware()
    assert core.connection().chip_id == "ideal"
    monkeypatch.setenv("HXEMU_CHIP_ID", "5")
    hxtorch.init_hardware()
    assert core.connection().chip_id == 5
    hxtorch.init_hardware(chip_id=2)  # the argument wins
    assert core.connection().chip_id == 2
    monkeypatch.delenv("HXEMU_CHIP_ID")
    hxtorch.init_hardware()
    assert core.connection().chip_id == 0
    monkeypatch.setenv("HXEMU_CHIP_ID", "chip7")
    with pytest.raises(ValueError, match="HXEMU_CHIP_ID"):
        hxtorch.init_hardware()
    with pytest.raises(ValueError, match="chip_id"):
        hxtorch.init_hardware(chip_id=-1)
    monkeypatch.setenv("HXEMU_SEED", "x")
    with pytest.raises(ValueError, match="HXEMU_SEED"):
        core.resolve_seed()
    monkeypatch.setenv("HXEMU_SEED", "42")
    assert core.resolve_seed() == 42 and core.resolve_seed(7) == 7
    monkeypatch.delenv("HXEMU_SEED")
    assert core.resolve_seed() is None


def test_seed_repeats_the_temporal_noise():
    import torch

    x = torch.full((4, 128), 10.)
    w = torch.full((128, 16), 21.)
    results = []
    for _ in range(2):
        hxtorch.init_hardware(chip_id=1, seed=123)
        results.append(hxtorch.perceptron.matmul(x, w))
    assert torch.equal(results[0], results[1])


def test_init_hardware_rejects_wrong_arguments():
    with pytest.raises(TypeError):
        hxtorch.init_hardware("path.pbin")
    with pytest.raises(TypeError):
        hxtorch.init_hardware(hxtorch.CalibrationPath("x.pbin"), True)
    with pytest.raises(TypeError):
        hxtorch.CalibrationPath(3)


# -- calibration ----------------------------------------------------------------------------------

def test_calibration_path_that_cannot_be_opened(tmp_path, caplog):
    missing = tmp_path / "nope.pbin"
    hxtorch.init_hardware(chip_id="ideal")
    before = core.connection()
    with caplog.at_level(logging.INFO, logger="hxtorch"):
        with pytest.raises(RuntimeError, match=r"^Failed to open calibration at "
                           + str(missing).replace("\\", "\\\\") + r"\.$"):
            hxtorch.init_hardware(hxtorch.CalibrationPath(str(missing)))
    assert f'Loading calibration from "{missing}"' in caplog.text
    assert core.connection() is before  # loading comes first: the old connection stays


def _cocolist_files():
    return pytest.importorskip("driver.cocolist_file",
                               reason="driver.cocolist_file (cocolist files) is not there yet")


def test_calibration_path_that_cannot_be_parsed(tmp_path, caplog):
    _cocolist_files()
    bad = tmp_path / "garbage.pbin"
    bad.write_bytes(b"this is not a cocolist")
    with caplog.at_level(logging.ERROR, logger="hxtorch"):
        with pytest.raises(RuntimeError, match="Failed to load calibration at"):
            hxtorch.init_hardware(hxtorch.CalibrationPath(str(bad)))
    assert any(r.levelno == logging.ERROR and r.name == "hxtorch.load_and_apply_calibration"
               for r in caplog.records)


def _driver_calibration_cocolist():
    """A tiny "calibration": one synapse driver's hagen_dac_offset (a field the MAC keeps)."""
    from driver.base_config import HAGEN_DRIVER_CONFIG
    from driver.cocolist import Cocolist
    from driver.coordinates import SynapseDriverOnDLS

    coord = SynapseDriverOnDLS(hemisphere=0, driver=3)
    return coord, Cocolist([(coord, HAGEN_DRIVER_CONFIG.replace(hagen_dac_offset=11))])


def _offset(coord):
    from driver.containers import SynapseDriverConfig

    return core.connection().shadow.read(coord, SynapseDriverConfig).hagen_dac_offset


def test_calibration_file_is_loaded_and_kept(tmp_path):
    files = _cocolist_files()
    import torch

    coord, cocolist = _driver_calibration_cocolist()
    path = tmp_path / "hagen_cocolist.pbin"
    files.save_cocolist(path, cocolist, {"chip_id": "ideal"})
    hxtorch.init_hardware(hxtorch.CalibrationPath(str(path)), chip_id="ideal")
    assert _offset(coord) == 11
    hxtorch.perceptron.matmul(torch.full((1, 128), 3.), torch.full((128, 8), 5.))
    assert _offset(coord) == 11  # a MAC keeps calibrated fields
    hxtorch.init_hardware(chip_id="ideal")  # no argument: the chip keeps its configuration
    assert _offset(coord) == 11
    hxtorch.init_hardware_minimal(chip_id="ideal")  # drops the calibration
    from driver.base_config import HAGEN_DAC_OFFSET_NOMINAL

    assert _offset(coord) == HAGEN_DAC_OFFSET_NOMINAL
    hxtorch.init_hardware(chip_id="ideal")
    assert _offset(coord) == HAGEN_DAC_OFFSET_NOMINAL


def test_initially_the_base_configuration():
    from driver.base_config import HAGEN_DAC_OFFSET_NOMINAL

    coord, _ = _driver_calibration_cocolist()
    hxtorch.init_hardware(chip_id=0, seed=1)
    assert _offset(coord) == HAGEN_DAC_OFFSET_NOMINAL


def test_ann_true_loads_the_default_calibration(monkeypatch, tmp_path):
    calibration = pytest.importorskip("driver.calibration",
                                      reason="driver.calibration is not there yet")
    if not hasattr(calibration, "default_calibration"):
        pytest.skip("driver.calibration.default_calibration is not there yet")
    coord, cocolist = _driver_calibration_cocolist()
    asked = []

    def fake_default(chip_id, **kwargs):
        asked.append(chip_id)
        return tmp_path / "hagen_cocolist.pbin", cocolist, {"chip_id": chip_id}

    monkeypatch.setattr(calibration, "default_calibration", fake_default)
    hxtorch.init_hardware(ann=True, chip_id=4, seed=0)
    assert asked == [4] and _offset(coord) == 11
    hxtorch.init_hardware(chip_id=4, seed=0)
    assert _offset(coord) == 11 and asked == [4]


def test_ann_true_on_the_ideal_chip_loads_nothing(caplog):
    from driver.base_config import HAGEN_DAC_OFFSET_NOMINAL

    coord, _ = _driver_calibration_cocolist()
    with caplog.at_level(logging.WARNING, logger="hxtorch"):
        hxtorch.init_hardware(ann=True, chip_id="ideal")
    assert "nothing to calibrate" in caplog.text
    assert _offset(coord) == HAGEN_DAC_OFFSET_NOMINAL


def test_ann_true_failure_is_a_runtime_error_and_keeps_a_connection(monkeypatch):
    calibration = pytest.importorskip("driver.calibration")
    if not hasattr(calibration, "default_calibration"):
        pytest.skip("driver.calibration.default_calibration is not there yet")

    def broken(chip_id, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(calibration, "default_calibration", broken)
    with pytest.raises(RuntimeError, match="default calibration of chip 2: disk full"):
        hxtorch.init_hardware(ann=True, chip_id=2, seed=0)
    assert hxtorch.get_unique_identifier() == ["hxemu-chip-2"]


# -- logger ---------------------------------------------------------------------------------------

def test_logger_subset(tmp_path, caplog):
    log = hxtorch.logger
    assert log.get_root().get_number_of_appenders() >= 1  # bootstrap of `import hxtorch`
    assert log.LogLevel.WARN > log.LogLevel.INFO > log.LogLevel.DEBUG > log.LogLevel.TRACE
    for name in ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"):
        assert hasattr(log.LogLevel, name)
    lg = log.get("hxtorch.test_logger")
    assert lg == log.get("hxtorch.test_logger")
    with caplog.at_level(logging.NOTSET):
        log.set_loglevel(lg, log.LogLevel.TRACE)
        lg.TRACE("trace", 1)
        lg.trace("lower")
        lg.INFO("upper info")
        lg.info("lower info")
        lg.WARN("warn")
        lg.warn("warn2")
        lg.ERROR("err")
        lg.error("err2")
        lg.FATAL("fatal")
        lg.fatal("fatal2")
        log.set_loglevel(lg, log.LogLevel.ERROR)
        lg.info("hidden")
    text = [r.getMessage() for r in caplog.records if r.name == "hxtorch.test_logger"]
    assert text == ["trace 1", "lower", "upper info", "lower info", "warn", "warn2", "err",
                    "err2", "fatal", "fatal2"]
    assert [r.levelname for r in caplog.records if r.name == "hxtorch.test_logger"][:2] == \
        ["TRACE", "TRACE"]
    # reset + default_config to a file, then back to the bootstrap configuration
    try:
        log.reset()
        assert log.get_root().get_number_of_appenders() == 0
        out = tmp_path / "log.txt"
        log.default_config(level=log.LogLevel.INFO, fname=str(out), print_location=True)
        assert log.get_root().get_number_of_appenders() == 1
        log.get("hxtorch.file").INFO("to the file")
        for h in logging.getLogger().handlers:
            h.flush()
        content = out.read_text()
        assert "INFO" in content and "hxtorch.file" in content and "to the file" in content
        assert "test_frontend_core.py" in content
    finally:
        log.reset()
        log.bootstrap()
    assert log.get_root().get_number_of_appenders() == 1
    assert logging.getLogger("hxtorch").level == logging.INFO


def test_hwdb_path_holder():
    h = hxtorch.HWDBPath()
    assert h.path is None and h.version == "stable/latest"
    assert hxtorch.CalibrationPath(Path("a.pbin")).value == "a.pbin"
    h = hxtorch.HWDBPath("p", "v")
    assert (h.path, h.version) == ("p", "v")
