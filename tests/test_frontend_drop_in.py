"""hxtorch drop-in details: ops behave like pybind builtins, init_hardware's overloads, the
shared environment parser, the one argument check of both modes, YinYangDataset's transform."""

import inspect
import pickle

import numpy as np
import pytest
import torch

import hxtorch
from driver import RemoteConnection, calibration, connection_from_env, environment
from driver.server import LocalServer
from frontend import core
from frontend._builtin import Builtin, signature_line
from hxtorch import perceptron as hxp

MAC_TAIL = ["num_sends", "wait_between_events", "mock", "madc_recording_neuron_id",
            "madc_recording_path"]
CONV = ["input", "weight", "bias", "stride", "num_sends", "wait_between_events", "mock"]
# hxtorch's builtins and their parameter names (as hxtorch's pybind definitions name them)
BUILTINS = {
    "mac": ["x", "weights", *MAC_TAIL],
    "matmul": ["input", "other", *MAC_TAIL],
    "conv1d": CONV,
    "conv2d": CONV,
    "expanded_conv1d": CONV[:4] + ["num_expansions"] + CONV[4:],
    "relu": ["input", "mock"],
    "converting_relu": ["input", "shift", "mock"],
    "add": ["input", "other", "alpha", "mock"],
    "argmax": ["input", "dim", "keepdim", "mock"],
    "inference_trace": ["input", "filename"],
    "get_mock_parameter": [],
    "set_mock_parameter": ["parameter"],
    "measure_mock_parameter": [],
    "init_hardware": ["hwdb_path", "ann", "calibration_path", "chip_id", "seed"],
    "init_hardware_minimal": ["chip_id", "seed"],
    "release_hardware": [],
    "get_unique_identifier": ["hwdb_path"],
}
CORE = {"init_hardware", "init_hardware_minimal", "release_hardware", "get_unique_identifier"}


def _builtin(name):
    return getattr(hxtorch if name in CORE else hxp, name)


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    for k in environment.VARIABLES:
        monkeypatch.delenv(k, raising=False)
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=0.0, gain=0.002))
    yield
    hxtorch.release_hardware()
    core._state.calibration = None
    core._state.calibration_metadata = None
    hxp.set_mock_parameter(hxp.MockParameter())


# -- ops are builtins ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_signature_doc_and_pickling_like_a_pybind_builtin(name):
    fn = _builtin(name)
    assert isinstance(fn, Builtin) and fn.__name__ == name
    assert list(inspect.signature(fn).parameters) == BUILTINS[name]
    first = fn.__doc__.splitlines()[0]
    assert first == signature_line(name, inspect.signature(fn))
    assert first.startswith(f"{name}(") and " -> " in first
    assert inspect.isroutine(fn)  # documented as a function by Sphinx and pydoc
    assert pickle.loads(pickle.dumps(fn)) is fn  # by reference, as builtins are
    assert repr(fn) == f"<built-in function {name}>"


def test_matmul_doc_starts_with_hxtorchs_signature_line():
    assert hxp.matmul.__doc__.splitlines()[0] == (
        "matmul(input: torch.Tensor, other: torch.Tensor, num_sends: int = 1, "
        "wait_between_events: int = 5, mock: bool = False, madc_recording_neuron_id: int = 0, "
        "madc_recording_path: str = '') -> torch.Tensor")


def test_overloaded_init_hardware_documents_both_forms():
    doc = hxtorch.init_hardware.__doc__
    assert "Overloaded function." in doc
    assert "1. init_hardware(hwdb_path: HWDBPath | None = None, ann: bool = False, *" in doc
    assert "2. init_hardware(calibration_path: CalibrationPath, *" in doc


def _op_calls(tmp_path):
    """(name, positional args, keyword args by hxtorch's names) of every op with a mode."""
    x, w = torch.tensor([1., 2., 3., 4.]), torch.full((4, 3), 5.)
    sig1, ker1 = torch.arange(8.).view(1, 1, 8), torch.ones(2, 1, 3)
    img, ker2 = torch.arange(16.).view(1, 1, 4, 4), torch.ones(2, 1, 2, 2)
    return [
        ("mac", (x, w), {"x": x, "weights": w}),
        ("matmul", (x, w), {"input": x, "other": w}),
        ("conv1d", (sig1, ker1), {"input": sig1, "weight": ker1, "stride": 2}),
        ("conv2d", (img, ker2), {"input": img, "weight": ker2, "stride": (1, 2)}),
        ("expanded_conv1d", (sig1, ker1), {"input": sig1, "weight": ker1,
                                          "num_expansions": 2}),
        ("relu", (x - 2,), {"input": x - 2}),
        ("converting_relu", (x * 9,), {"input": x * 9, "shift": 1}),
        ("add", (x, x), {"input": x, "other": x}),
        ("argmax", (w.t(),), {"input": w.t() + torch.arange(4.), "dim": 1, "keepdim": True}),
    ]


@pytest.mark.parametrize("mock", [True, False], ids=["mock", "hardware"])
def test_class_attribute_pattern_and_keywords_for_every_op(mock, tmp_path):
    """`class E: op = hxtorch.perceptron.<op>` called through an instance passes no self."""
    hxtorch.init_hardware(chip_id="ideal")
    for name, args, kwargs in _op_calls(tmp_path):
        fn = _builtin(name)
        experiment = type("Experiment", (), {"op": fn})()
        assert experiment.op is fn and type(experiment).op is fn
        got = experiment.op(*args, mock=mock)
        assert torch.equal(got, fn(*args, mock=mock)), name
        by_keyword = experiment.op(**kwargs, mock=mock)
        assert torch.equal(by_keyword, fn(**kwargs, mock=mock)), name
        if name not in ("argmax",):  # ideal chip == noise-free mock
            other = fn(*args, mock=not mock)
            assert torch.equal(got, other), name


def test_class_attribute_pattern_for_the_functions_without_mode(tmp_path):
    class Experiment:
        init = hxtorch.init_hardware
        init_minimal = hxtorch.init_hardware_minimal
        release = hxtorch.release_hardware
        identify = hxtorch.get_unique_identifier
        get = hxp.get_mock_parameter
        set = hxp.set_mock_parameter
        measure = hxp.measure_mock_parameter
        trace = hxp.inference_trace

    e = Experiment()
    e.init(chip_id="ideal")
    assert e.identify() == ["hxemu-chip-ideal"]
    e.init_minimal(chip_id=1)
    assert e.identify(hwdb_path=hxtorch.HWDBPath()) == ["hxemu-chip-1"]
    e.set(parameter=hxp.MockParameter(1.0, 0.003))
    assert e.get() == hxp.MockParameter(1.0, 0.003)
    e.init(chip_id="ideal")
    measured = e.measure()
    assert 0.0019 < measured.gain < 0.0022
    path = tmp_path / "trace.pt"
    tracer = hxp.InferenceTracer(path)
    tracer.start()
    hxp.relu(torch.tensor([-3., 4.]))
    tracer.stop()
    assert torch.equal(e.trace(input=torch.tensor([5., -6.]), filename=path),
                       torch.tensor([5., 0.]))
    e.release()
    with pytest.raises(RuntimeError, match="No connection allocated."):
        e.identify()


# -- init_hardware: two overloads, keyword-only extras ------------------------------------------

def _calibration_file(tmp_path):
    from driver.cocolist import Cocolist

    path = tmp_path / "hagen_cocolist.pbin"
    Cocolist().save(path, {"chip_id": 0, "kind": "test"})
    return path


def test_init_hardware_overloads_positional_and_keyword(tmp_path):
    path = _calibration_file(tmp_path)
    for call in (lambda: hxtorch.init_hardware(hxtorch.CalibrationPath(path), chip_id=0),
                 lambda: hxtorch.init_hardware(calibration_path=hxtorch.CalibrationPath(path),
                                               chip_id=0)):
        core._state.calibration = None
        call()
        assert core._state.calibration is not None
        assert core._state.calibration_metadata["kind"] == "test"
    core._state.calibration = None
    hxtorch.init_hardware(hwdb_path=hxtorch.HWDBPath(), ann=False, chip_id="ideal", seed=3)
    assert hxtorch.get_unique_identifier() == ["hxemu-chip-ideal"]
    with pytest.raises(TypeError, match="either hwdb_path or calibration_path"):
        hxtorch.init_hardware(hxtorch.HWDBPath(), calibration_path=hxtorch.CalibrationPath(path))
    with pytest.raises(TypeError, match="no `ann` argument"):
        hxtorch.init_hardware(calibration_path=hxtorch.CalibrationPath(path), ann=True)
    with pytest.raises(TypeError, match="calibration_path must be a CalibrationPath"):
        hxtorch.init_hardware(calibration_path=str(path))
    with pytest.raises(TypeError):
        hxtorch.init_hardware(None, False, 3)  # chip_id is keyword-only
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        hxtorch.init_hardware(chip_id=0, seed=True)


# -- one environment parser ---------------------------------------------------------------------

@pytest.mark.parametrize("value,chip", [("0x10", 16), ("16", 16), ("007", 7), ("ideal", "ideal")])
def test_chip_id_variable_means_the_same_everywhere(monkeypatch, value, chip):
    monkeypatch.setenv("HXEMU_CHIP_ID", value)
    assert connection_from_env().chip_id == chip
    hxtorch.init_hardware()
    assert core.connection().chip_id == chip


@pytest.mark.parametrize("name,value,match", [
    ("HXEMU_SEED", "-1", r"HXEMU_SEED must be an integer >= 0, got '-1'"),
    ("HXEMU_SEED", "x", r"HXEMU_SEED must be an integer >= 0, got 'x'"),
    ("HXEMU_CHIP_ID", "-3", r"HXEMU_CHIP_ID must be a non-negative int or 'ideal', got '-3'"),
])
def test_bad_variables_are_the_same_error_everywhere(monkeypatch, name, value, match):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=match):
        connection_from_env()
    with pytest.raises(ValueError, match=match):
        hxtorch.init_hardware()


def test_seed_variable_accepts_hex_in_both(monkeypatch):
    monkeypatch.setenv("HXEMU_SEED", "0x2a")
    assert connection_from_env()._chip.seed == 42
    assert core.resolve_seed() == 42


@pytest.mark.parametrize("env,match", [
    ({"QUIGGELDY_ENABLED": "1", "QUIGGELDY_IP": "h"}, "QUIGGELDY_PORT is not set"),
    ({"QUIGGELDY_ENABLED": "1", "QUIGGELDY_IP": "h", "QUIGGELDY_PORT": "0"},
     r"QUIGGELDY_PORT must be an integer in 1\.\.65535, got '0'"),
    ({"QUIGGELDY_ENABLED": "on"}, "QUIGGELDY_ENABLED must be an integer, got 'on'"),
])
def test_remote_variables(env, match):
    with pytest.raises(ValueError, match=match):
        environment.remote_from_env(env)
    target = environment.remote_from_env({"QUIGGELDY_ENABLED": "0x1", "QUIGGELDY_IP": " h ",
                                          "QUIGGELDY_PORT": "0x2c4e"})
    assert target == environment.RemoteTarget("h", 11342)
    assert environment.remote_from_env({"QUIGGELDY_ENABLED": "0"}) is None


def test_ann_true_uses_the_server_and_the_server_chips_calibration(monkeypatch):
    from driver.cocolist import Cocolist

    asked = []

    def fake_default(chip_id, **kwargs):
        asked.append(chip_id)
        return "unused", Cocolist(), {"chip_id": chip_id}

    monkeypatch.setattr(calibration, "default_calibration", fake_default)
    monkeypatch.setenv("HXEMU_CHIP_ID", "2")  # the server's chip wins
    with LocalServer("--chip-id", "7") as srv:
        for k, v in srv.env().items():
            monkeypatch.setenv(k, v)
        hxtorch.init_hardware(ann=True)
        conn = core.connection()
        assert isinstance(conn, RemoteConnection) and asked == [7]
        assert core._state.calibration_metadata == {"chip_id": 7}
        assert hxtorch.get_unique_identifier() == ["hxemu-chip-7"]
        out = hxp.matmul(torch.full((4,), 10.), torch.full((4, 2), 20.))
        assert out.shape == (2,)
        hxtorch.init_hardware()
        assert isinstance(core.connection(), RemoteConnection) and asked == [7]
        hxtorch.release_hardware()


# -- one argument check for both modes ----------------------------------------------------------

@pytest.mark.parametrize("mock", [True, False], ids=["mock", "hardware"])
def test_num_sends_and_wait_rules_are_the_same_in_both_modes(mock):
    hxtorch.init_hardware(chip_id="ideal")
    x, w = torch.full((3,), 10.), torch.full((3, 2), 20.)
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf"^matmul\(\): argument 'num_sends' must be an "
                           rf"int >= 1, got {bad}$"):
            hxp.matmul(x, w, num_sends=bad, mock=mock)
    for bad in (1.0, True, "2"):
        with pytest.raises(TypeError, match="argument 'num_sends' must be an int"):
            hxp.mac(x, w, num_sends=bad, mock=mock)
    for bad in (-5, -1, 1 << 20):
        with pytest.raises(ValueError, match=rf"argument 'wait_between_events' must be an int "
                           rf"in 0\.\.1048575, got {bad}"):
            hxp.matmul(x, w, wait_between_events=bad, mock=mock)
    assert hxp.matmul(x, w, num_sends=np.int64(2), wait_between_events=0, mock=mock).tolist() \
        == [2.0, 2.0]


def test_wait_zero_on_the_chip_sends_back_to_back_like_one():
    x = torch.randint(0, 32, (8, 100), generator=torch.Generator().manual_seed(1)).float()
    w = torch.randint(-63, 64, (100, 40), generator=torch.Generator().manual_seed(2)).float()
    results = []
    for wait in (0, 1, 5):
        hxtorch.init_hardware(chip_id=0, seed=11)
        results.append(hxp.matmul(x, w, wait_between_events=wait))
    assert torch.equal(results[0], results[1])
    assert not torch.equal(results[0], results[2])  # the wait matters on this chip


@pytest.mark.parametrize("mock", [True, False], ids=["mock", "hardware"])
def test_bool_complex_and_empty_inputs_are_refused_alike(mock):
    hxtorch.init_hardware(chip_id="ideal")
    w = torch.ones(3, 2)
    for dtype in (torch.bool, torch.complex64):
        x = torch.ones(4, 3, dtype=dtype)
        with pytest.raises(TypeError, match=rf"matmul\(\): argument 'input' must be a real "
                           rf"float or integer tensor, got dtype {dtype} \(shape \[4, 3\]\)"):
            hxp.matmul(x, w, mock=mock)
        with pytest.raises(TypeError, match=r"mac\(\): argument 'weights'"):
            hxp.mac(torch.ones(3), w.to(dtype), mock=mock)
        for name, fn, args in (("relu", hxp.relu, (x,)), ("add", hxp.add, (x, x)),
                               ("conv1d", hxp.conv1d, (x.view(1, 4, 3), torch.ones(1, 4, 2)))):
            with pytest.raises(TypeError, match=rf"{name}\(\): argument 'input'"):
                fn(*args, mock=mock)
    with pytest.raises(TypeError, match=r"matmul\(\): argument 'other' must be a torch.Tensor"):
        hxp.matmul(torch.ones(3), [[1.0]] * 3, mock=mock)
    with pytest.raises(RuntimeError, match=r"matmul\(\): the inner dimension is empty: input of "
                       r"shape \[4, 0\], other of shape \[0, 2\]"):
        hxp.matmul(torch.ones(4, 0), torch.ones(0, 2), mock=mock)
    # empty batches and empty outputs are fine: nothing to compute
    assert hxp.matmul(torch.ones(0, 3), w, mock=mock).shape == (0, 2)
    assert hxp.matmul(torch.ones(5, 3), torch.ones(3, 0), mock=mock).shape == (5, 0)
    # integer inputs work in both modes
    assert hxp.matmul(torch.full((3,), 10, dtype=torch.int32), torch.full((3, 2), 20),
                      mock=mock).tolist() == [1.0, 1.0]


# -- YinYangDataset(transform=...) --------------------------------------------------------------

def test_yin_yang_transform_applies_to_the_input_only():
    plain = hxtorch.datasets.YinYangDataset(size=4, seed=3)
    shifted = hxtorch.datasets.YinYangDataset(size=4, seed=3, transform=lambda x: x * 31)
    for i in range(4):
        (a, la), (b, lb) = plain[i], shifted[i]
        assert la == lb and torch.allclose(a * 31, b)
    with pytest.raises(TypeError, match="transform must be callable"):
        hxtorch.datasets.YinYangDataset(transform=3)


# -- the mock's noise (the generator itself: tests/test_mock_kernels.py) ---------------------

def test_mock_noise_repeats_with_torch_manual_seed():
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=2.0, gain=0.002))
    x, w = torch.full((300, 200), 10.), torch.full((200, 64), 20.)
    torch.manual_seed(5)
    a = hxp.matmul(x, w, mock=True)
    torch.manual_seed(5)
    b = hxp.matmul(x, w, mock=True)
    c = hxp.matmul(x, w, mock=True)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # two chunks (128 + 72 rows) of floor(v + N(0, 2)), v = 51.2 and 28.8: E = v - 1/2 each
    assert float(a.mean()) == pytest.approx(51.2 + 28.8 - 1.0, abs=0.1)
    assert float(a.std()) == pytest.approx((2 * (4 + 1 / 12)) ** 0.5, rel=0.05)
