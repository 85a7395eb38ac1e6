"""hxtorch.perceptron operations: mac, matmul, conv*, relu,
converting_relu, add, argmax, tracing; shapes, errors, rounding per mode, forward and backward
math, and mock == hardware on the ideal chip."""

import math

import numpy as np
import pytest
import torch

import hxtorch
from frontend import core
from frontend.perceptron import multiply
from hxtorch import perceptron as hxp

GAIN = 0.002


@pytest.fixture(autouse=True)
def clean_state():
    hxp.set_mock_parameter(hxp.MockParameter())
    yield
    hxtorch.release_hardware()
    hxp.set_mock_parameter(hxp.MockParameter())


@pytest.fixture
def ideal():
    """Ideal chip and a noise-free mock with its gain: the two modes must agree exactly."""
    hxtorch.init_hardware(chip_id="ideal")
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=0, gain=GAIN))
    return core.connection()


def exact(x: np.ndarray, w: np.ndarray, num_sends: int) -> np.ndarray:
    """Per 128-row chunk floor(ns x.W / 500) clamped to int8, summed and clamped."""
    x = x.reshape(-1, x.shape[-1]).astype(np.int64)
    total = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    for i in range(0, w.shape[0], 128):
        s = num_sends * (x[:, i:i + 128] @ w[i:i + 128].astype(np.int64))
        total += np.clip(np.floor_divide(s, 500), -128, 127)
    return np.clip(total, -128, 127)


def rand_ints(shape, lo, hi, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(lo, hi + 1, shape, generator=g).float()


# -- mock parameter ------------------------------------------------------------------------------

def test_mock_parameter_class():
    assert repr(hxp.MockParameter()) == "MockParameter(noise_std=2.000000, gain=0.002000)"
    assert str(hxp.MockParameter(1.6, 0.0018)) == \
        "MockParameter(noise_std=1.600000, gain=0.001800)"
    p = hxp.MockParameter(gain=0.0043)
    assert (p.noise_std, p.gain) == (2.0, 0.0043)
    assert hxp.MockParameter(noise_std=0, gain=0.0018).noise_std == 0
    assert hxp.MockParameter(gain=2000).gain == 2000  # no validation in the constructor
    assert hxp.MockParameter(1, 0.1) == hxp.MockParameter(1.0, 0.1)
    assert hxp.MockParameter(1, 0.1) != hxp.MockParameter(1, 0.2)
    with pytest.raises(TypeError):
        hash(hxp.MockParameter())
    p.gain = 0.5
    p.noise_std = 0.25
    assert (p.noise_std, p.gain) == (0.25, 0.5)


def test_get_returns_a_copy_and_set_validates_gain_and_noise():
    got = hxp.get_mock_parameter()
    assert got == hxp.MockParameter(2.0, 0.002)
    got.gain = 0.5
    assert hxp.get_mock_parameter().gain == 0.002
    hxp.set_mock_parameter(hxp.MockParameter(0.0, 1.0))  # no noise and gain 1 are allowed
    assert hxp.get_mock_parameter() == hxp.MockParameter(0.0, 1.0)
    for bad in (-1.0, -1e-300, float("nan"), float("inf"), float("-inf")):
        with pytest.raises(OverflowError, match=r"Noise std is expected to be finite and >= 0 "
                           r"but was "):
            hxp.set_mock_parameter(hxp.MockParameter(noise_std=bad))
    assert hxp.get_mock_parameter() == hxp.MockParameter(0.0, 1.0)  # unchanged
    for bad in (0.0, -0.1, 1.5, float("nan"), float("inf"), float("-inf")):
        with pytest.raises(OverflowError, match=r"Gain is expected to be in the interval "
                           r"\(0, 1\] but was "):
            hxp.set_mock_parameter(hxp.MockParameter(gain=bad))
    with pytest.raises(OverflowError, match=r"but was 1\.500000$"):
        hxp.set_mock_parameter(hxp.MockParameter(gain=1.5))
    with pytest.raises(TypeError):
        hxp.set_mock_parameter(0.002)


# -- mac / matmul: mock arithmetic ----------------------------------------------------------------

def test_float64_scaling_floors_exactly_at_every_multiple():
    """floor(acc * ns * 0.002) == floor(acc * ns / 500) for every chunk sum, both signs."""
    acc = torch.arange(-128 * 31 * 63, 128 * 31 * 63 + 1, dtype=torch.float32)
    for ns in list(range(1, 65)) + [100, 127, 1000]:
        sends = torch.tensor([float(ns)], dtype=torch.float64)
        got = multiply._digitize(acc, sends, GAIN, 0.0)
        want = torch.div(acc.long() * ns, 500, rounding_mode="floor").clamp(-128, 127)
        assert torch.equal(got.long(), want), ns


@pytest.mark.parametrize("k,n,ns", [(1, 1, 1), (100, 10, 3), (128, 256, 1), (129, 5, 7),
                                    (300, 40, 2), (512, 3, 40)])
def test_mock_noise_free_is_the_exact_chunked_formula(k, n, ns):
    hxp.set_mock_parameter(hxp.MockParameter(0, GAIN))
    x = rand_ints((9, k), 0, 31, seed=k)
    w = rand_ints((k, n), -63, 63, seed=n)
    y = hxp.matmul(x, w, num_sends=ns, mock=True)
    assert y.dtype == torch.float32 and y.shape == (9, n)
    assert np.array_equal(y.numpy().astype(np.int64), exact(x.numpy(), w.numpy(), ns))


def test_mock_blocks_large_batches_identically():
    hxp.set_mock_parameter(hxp.MockParameter(0, GAIN))
    x = rand_ints((3000, 200), 0, 31)
    w = rand_ints((200, 300), -63, 63)
    y = hxp.matmul(x, w, num_sends=2, mock=True)
    assert np.array_equal(y.numpy().astype(np.int64), exact(x.numpy(), w.numpy(), 2))


def test_mock_noise_is_per_chunk_and_before_the_floor():
    torch.manual_seed(0)
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=2.0, gain=GAIN))
    w1, w2 = torch.zeros(128, 500), torch.zeros(256, 500)
    y1 = hxp.matmul(torch.zeros(200, 128), w1, mock=True)  # floor(N(0, 2))
    y2 = hxp.matmul(torch.zeros(200, 256), w2, mock=True)  # two independent chunks
    assert abs(y1.mean().item() + 0.5) < 0.05
    assert abs(y1.std().item() - math.sqrt(4 + 1 / 12)) < 0.05
    assert abs(y2.mean().item() + 1.0) < 0.07
    assert abs(y2.std().item() - math.sqrt(2 * (4 + 1 / 12))) < 0.07
    assert torch.equal(y1, y1.round())


def test_mock_clamps_each_chunk_then_the_sum():
    hxp.set_mock_parameter(hxp.MockParameter(0, GAIN))
    x = torch.full((1, 384), 31.)
    w = torch.cat([torch.full((128, 1), 63.), torch.full((128, 1), 63.),
                   torch.full((128, 1), -63.)])
    # chunks: 127 (clamped from 250), 127, -128 (clamped from -250) -> 126, not 250
    assert hxp.matmul(x, w, mock=True).item() == 126.0
    assert hxp.matmul(x, w.abs(), mock=True).item() == 127.0


def test_gain_and_num_sends_scale_the_mock():
    hxp.set_mock_parameter(hxp.MockParameter(0, 0.01))
    x, w = torch.full((1, 10), 10.), torch.full((10, 1), 5.)
    assert hxp.matmul(x, w, num_sends=2, mock=True).item() == 10.0  # 500 * 2 * 0.01


# -- rounding and ranges per mode -----------------------------------------------------------------

def test_rounding_half_to_even_in_mock_half_away_in_hardware(ideal):
    x = torch.tensor([[16.5]])
    w = torch.tensor([[50.]])
    assert hxp.matmul(x, w, num_sends=10, mock=True).item() == 16.0  # 16.5 -> 16
    assert hxp.matmul(x, w, num_sends=10).item() == 17.0  # 16.5 -> 17
    assert hxp.matmul(torch.tensor([[15.5]]), w, num_sends=10, mock=True).item() == 16.0
    assert hxp.matmul(torch.tensor([[15.5]]), w, num_sends=10).item() == 16.0
    x, w = torch.tensor([[31.]]), torch.tensor([[20.5]])
    assert hxp.matmul(x, w, num_sends=20, mock=True).item() == 24.0  # weight 20
    assert hxp.matmul(x, w, num_sends=20).item() == 26.0  # weight 21
    w = torch.tensor([[-20.5]])
    assert hxp.matmul(x, w, num_sends=20, mock=True).item() == -25.0  # -20 -> floor(-24.8)
    assert hxp.matmul(x, w, num_sends=20).item() == -27.0  # -21 -> floor(-26.04)


@pytest.mark.parametrize("mock", [True, False])
def test_range_errors(ideal, mock):
    w = torch.zeros(3, 2)
    with pytest.raises(OverflowError, match=r"^HICperceptron-X only supports inputs between 0 "
                       r"and 31, got -2\.000000 \(min\), 0\.000000 \(max\)$"):
        hxp.mac(torch.tensor([[-2., 0., 0.]]), w, mock=mock)
    with pytest.raises(OverflowError, match=r"weights between -63 and 63, got 0\.000000 "
                       r"\(min\), 65\.000000 \(max\)"):
        hxp.mac(torch.zeros(1, 3), torch.tensor([[65., 0.], [0., 0.], [0., 0.]]), mock=mock)
    with pytest.raises(OverflowError, match="inputs between 0 and 31, got 0.000000 "
                       r"\(min\), 32\.000000"):
        hxp.mac(torch.tensor([[31.5, 0., 0.]]), w, mock=mock)
    with pytest.raises(OverflowError, match="nan"):
        hxp.mac(torch.tensor([[float("nan"), 0., 0.]]), w, mock=mock)
    assert hxp.mac(torch.tensor([[31.49, 0., 0.]]), w, mock=mock).shape == (1, 2)


def test_range_edge_differences_between_modes(ideal):
    w = torch.zeros(1, 1)
    # -0.5 rounds to -0 in mock mode (allowed) but to -1 in hardware mode
    assert hxp.mac(torch.tensor([[-0.5]]), w, mock=True).item() == 0.0
    with pytest.raises(OverflowError, match="inputs"):
        hxp.mac(torch.tensor([[-0.5]]), w)
    # weights below -63: OverflowError in mock mode, RuntimeError (std::underflow_error) in HX
    with pytest.raises(OverflowError):
        hxp.mac(torch.zeros(1, 1), torch.tensor([[-64.]]), mock=True)
    with pytest.raises(RuntimeError, match=r"weights between -63 and 63, got -64\.000000") as e:
        hxp.mac(torch.zeros(1, 1), torch.tensor([[-64.]]))
    assert not isinstance(e.value, OverflowError)


@pytest.mark.parametrize("mock", [True, False])
def test_dimension_errors(ideal, mock):
    with pytest.raises(RuntimeError, match="^HICperceptron-X only supports 2D weight matrices$"):
        hxp.mac(torch.zeros(2, 3), torch.zeros(3, 2, 1), mock=mock)
    with pytest.raises(RuntimeError, match="^HICperceptron-X only supports 1D or 2D input$"):
        hxp.mac(torch.zeros(2, 2, 3), torch.zeros(3, 2), mock=mock)
    with pytest.raises(RuntimeError, match="^both arguments to matmul need to be at least 1D$"):
        hxp.matmul(torch.tensor(1.), torch.zeros(3, 2), mock=mock)
    with pytest.raises(RuntimeError, match="^both arguments to matmul need to be at least 1D$"):
        hxp.matmul(torch.zeros(3), torch.tensor(1.), mock=mock)
    with pytest.raises(RuntimeError, match=r"^matmul for 2D and 3D inputs is not implemented "
                       r"yet :\($"):
        hxp.matmul(torch.zeros(2, 3), torch.zeros(1, 3, 2), mock=mock)


@pytest.mark.parametrize("k_x,k_w", [(256, 128), (128, 256), (3, 4), (200, 100)])
def test_inner_dimension_mismatch_is_a_clear_runtime_error(ideal, k_x, k_w):
    """The original mock used only the first 128 weight rows or raised IndexError; one check
    for both modes names both shapes."""
    x, w = torch.ones(2, k_x), torch.ones(k_w, 3)
    for mock in (True, False):
        with pytest.raises(RuntimeError, match=rf"^HICperceptron-X only supports input lengths "
                           rf"that match the corresponding weight matrix dim size: x of shape "
                           rf"\[2, {k_x}\], weights of shape \[{k_w}, 3\]$"):
            hxp.mac(x, w, mock=mock)
        with pytest.raises(RuntimeError, match=rf"input of shape \[2, {k_x}\], other of shape "
                           rf"\[{k_w}, 3\]$"):
            hxp.matmul(x, w, mock=mock)


def test_hardware_needs_a_connection_after_the_argument_checks():
    hxtorch.release_hardware()
    x, w = torch.ones(2, 3), torch.ones(3, 4)
    with pytest.raises(RuntimeError, match=r"^No connection allocated\.$"):
        hxp.matmul(x, w)
    with pytest.raises(OverflowError):  # range checks come first, as in the original
        hxp.matmul(x * 40, w)
    assert hxp.matmul(x, w, mock=True).shape == (2, 4)  # mock needs none


def test_madc_recording_is_refused_in_mock_mode(tmp_path):
    with pytest.raises(RuntimeError, match=r"^Recording with MADC in mock-mode is not "
                       r"implemented\.$"):
        hxp.mac(torch.ones(1, 3), torch.ones(3, 2), mock=True,
                madc_recording_path=str(tmp_path / "m.csv"))
    assert hxp.mac(torch.ones(1, 3), torch.ones(3, 2), mock=True,
                   madc_recording_neuron_id=7).shape == (1, 2)


def test_madc_recording_in_hardware_mode_writes_the_membrane_trace(ideal, tmp_path):
    path = tmp_path / "membrane.csv"
    x = torch.full((1, 128), 31.)
    w = torch.zeros(128, 4)
    w[:, 2] = 5.  # neuron 2 integrates 128 * 31 * 5 * 2 / 500 = 79.36 LSB
    y = hxp.mac(x, w, num_sends=2, madc_recording_neuron_id=2, madc_recording_path=str(path))
    assert y.tolist() == [[0., 0., 79., 0.]]
    lines = path.read_text().splitlines()
    assert lines[0] == "time_us,madc_value"
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    t, v = table[:, 0], table[:, 1]
    assert len(t) > 100 and (np.diff(t) > 0).all() and t[0] >= 0
    assert np.allclose(np.diff(t), 12 / 125)  # one sample per 12 FPGA cycles, in us
    assert ((v >= 0) & (v <= 1023)).all() and v.max() > v.min()
    with pytest.raises(OverflowError, match="madc_recording_neuron_id"):
        hxp.mac(x, w, madc_recording_neuron_id=512, madc_recording_path=str(path))


# -- shapes ---------------------------------------------------------------------------------------

SHAPES = [((5,), (5,), ()), ((5,), (5, 3), (3,)), ((4, 5), (5,), (4,)), ((4, 5), (5, 3), (4, 3)),
          ((2, 4, 5), (5,), (2, 4)), ((2, 4, 5), (5, 3), (2, 4, 3)),
          ((2, 3, 4, 5), (5, 3), (2, 3, 4, 3)), ((2, 1, 5), (5,), (2,))]


@pytest.mark.parametrize("a,b,out", SHAPES)
@pytest.mark.parametrize("mock", [True, False])
def test_matmul_shapes(ideal, a, b, out, mock):
    x = rand_ints(a, 0, 31)
    w = rand_ints(b, -63, 63, seed=1)
    y = hxp.matmul(x, w, num_sends=3, mock=mock)
    assert y.shape == out and y.is_contiguous() and y.dtype == torch.float32
    w2 = w.reshape(5, -1)
    want = exact(x.numpy(), w2.numpy(), 3).reshape(tuple(a[:-1]) + (w2.shape[1],))
    assert np.array_equal(y.numpy().astype(np.int64).ravel(), want.ravel())
    if a != (2, 1, 5):
        assert y.shape == torch.matmul(x, w).shape
    else:  # the original's quirk, kept: torch gives (2, 1)
        assert torch.matmul(x, w).shape == (2, 1)


@pytest.mark.parametrize("mock", [True, False])
def test_matmul_non_contiguous_inputs(ideal, mock):
    x = rand_ints((6, 10), 0, 31)[:, ::2]
    w = rand_ints((4, 5), -63, 63).t()
    assert not x.is_contiguous() and not w.is_contiguous()
    y = hxp.matmul(x, w, mock=mock)
    assert y.is_contiguous()
    assert np.array_equal(y.numpy(), exact(x.numpy(), w.numpy(), 1))


# -- mock == hardware on the ideal chip -----------------------------------------------------------

@pytest.mark.parametrize("batch,k,n,ns,wait", [(7, 128, 256, 1, 5), (3, 300, 520, 2, 2),
                                               (12, 5, 40, 40, 10), (1, 256, 1, 9, 5)])
def test_ideal_chip_equals_noise_free_mock(ideal, batch, k, n, ns, wait):
    x = rand_ints((batch, k), 0, 31, seed=batch)
    x[x < 4] = 0
    w = rand_ints((k, n), -63, 63, seed=k)
    hw = hxp.matmul(x, w, num_sends=ns, wait_between_events=wait)
    sw = hxp.matmul(x, w, num_sends=ns, wait_between_events=wait, mock=True)
    assert torch.equal(hw, sw)
    assert np.array_equal(hw.numpy(), exact(x.numpy(), w.numpy(), ns))


# -- gradients ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mock", [True, False])
@pytest.mark.parametrize("a,b", [((6, 20), (20, 7)), ((20,), (20, 7)), ((3, 4, 20), (20, 7)),
                                 ((6, 20), (20,)), ((20,), (20,))])
def test_gradients_are_gain_times_num_sends_times_torch(ideal, mock, a, b):
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=1.0, gain=0.0031))
    ns = 3
    x = (torch.rand(a) * 31).requires_grad_()
    w = ((torch.rand(b) - 0.5) * 100).requires_grad_()  # unrounded, partly out of range: ok
    w.data.clamp_(-63, 63)
    y = hxp.matmul(x, w, num_sends=ns, mock=mock)
    g = torch.randn(y.shape)
    y.backward(g)
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    torch.matmul(x2, w2).backward(g)
    torch.testing.assert_close(x.grad, x2.grad * 0.0031 * ns, rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(w.grad, w2.grad * 0.0031 * ns, rtol=1e-3, atol=1e-6)


def test_backward_uses_the_gain_at_backward_time():
    x = torch.full((1, 4), 10., requires_grad=True)
    w = torch.full((4, 2), 3.)
    y = hxp.matmul(x, w, num_sends=2, mock=True)
    hxp.set_mock_parameter(hxp.MockParameter(gain=0.5))
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full((1, 4), 2 * 0.5 * 6.))


# -- conv -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mock", [True, False])
def test_conv1d_and_conv2d_shapes_and_values(ideal, mock):
    x1 = rand_ints((2, 3, 30), 0, 31)
    w1 = rand_ints((4, 3, 5), -63, 63)
    for stride in (1, 3, (2,), [4]):
        s = stride if isinstance(stride, int) else stride[0]
        y = hxp.conv1d(x1, w1, stride=stride, num_sends=2, mock=mock)
        assert y.shape == (2, 4, (30 - 5) // s + 1) and y.is_contiguous()
        ref = torch.nn.functional.conv1d(x1.double(), w1.double(), stride=s)
        assert torch.allclose(y.double(), torch.floor(ref * 2 / 500).clamp(-128, 127))
    x2 = rand_ints((2, 2, 9, 11), 0, 31)
    w2 = rand_ints((3, 2, 4, 3), -63, 63)
    bias = torch.tensor([0.25, -1.5, 3.])
    y = hxp.conv2d(x2, w2, bias, stride=(2, 3), num_sends=3, mock=mock)
    assert y.shape == (2, 3, 3, 3)
    ref = torch.nn.functional.conv2d(x2.double(), w2.double(), stride=(2, 3))
    want = torch.floor(ref * 3 / 500).clamp(-128, 127) + bias.double().view(-1, 1, 1)
    assert torch.allclose(y.double(), want)  # float bias, no int8 rounding


@pytest.mark.parametrize("mock", [True, False])
def test_conv_errors(ideal, mock):
    w = torch.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match=r"^conv expects a weight shape of \(out_channels, "
                       r"in_channels, \*\*kernel_shape\)\.$"):
        hxp.conv1d(torch.zeros(1, 3, 10), torch.zeros(2, 3), mock=mock)
    with pytest.raises(RuntimeError, match=r"^conv expects a input shape of \(minibatches, "
                       r"in_channels, \*\*single_input_shape\)\.$"):
        hxp.conv1d(torch.zeros(3, 10), w, mock=mock)
    with pytest.raises(RuntimeError, match=r"^conv expects matching in_channels in input and "
                       r"weight\.$"):
        hxp.conv1d(torch.zeros(1, 2, 10), w, mock=mock)
    with pytest.raises(RuntimeError, match=r"^Input size per channel: 3\. Kernel size: 4\. "
                       r"Kernel size can't be greater than actual input size$"):
        hxp.conv1d(torch.zeros(1, 3, 3), w, mock=mock)
    with pytest.raises(RuntimeError, match="Kernel size: 5"):
        hxp.conv2d(torch.zeros(1, 1, 10, 4), torch.zeros(1, 1, 2, 5), mock=mock)
    with pytest.raises(TypeError):
        hxp.conv2d(torch.zeros(1, 1, 10, 10), torch.zeros(1, 1, 2, 2), stride=(1, 1, 1),
                   mock=mock)
    with pytest.raises(RuntimeError, match="positive strides"):
        hxp.conv1d(torch.zeros(1, 3, 10), w, stride=0, mock=mock)


def test_conv_reads_views_with_a_storage_offset_correctly():
    """The original's as_strided(storage_offset=0) would read the wrong memory here."""
    hxp.set_mock_parameter(hxp.MockParameter(0, GAIN))
    big = rand_ints((2, 3, 40), 0, 31)
    view = big[:, :, 7:]
    w = rand_ints((4, 3, 5), -63, 63)
    assert torch.equal(hxp.conv1d(view, w, mock=True),
                       hxp.conv1d(view.contiguous(), w, mock=True))
    view2 = big[1:]
    assert torch.equal(hxp.conv1d(view2, w, mock=True),
                       hxp.conv1d(view2.contiguous(), w, mock=True))


@pytest.mark.parametrize("mock", [True, False])
@pytest.mark.parametrize("d", [1, 2])
def test_conv_gradients(ideal, d, mock):
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=2.0, gain=0.0025))
    shape = (2, 3, 12) if d == 1 else (2, 3, 8, 9)
    kernel = (4, 3, 3) if d == 1 else (4, 3, 3, 2)
    x = (torch.rand(shape) * 31).requires_grad_()
    w = ((torch.rand(kernel) - 0.5) * 120).requires_grad_()
    b = torch.randn(4, requires_grad=True)
    fn = hxp.conv1d if d == 1 else hxp.conv2d
    ref = torch.nn.functional.conv1d if d == 1 else torch.nn.functional.conv2d
    y = fn(x, w, b, stride=2, num_sends=5, mock=mock)
    g = torch.randn(y.shape)
    y.backward(g)
    x2, w2, b2 = (t.detach().clone().requires_grad_() for t in (x, w, b))
    ref(x2, w2, b2, stride=2).backward(g)
    torch.testing.assert_close(x.grad, x2.grad * 0.0025 * 5, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(w.grad, w2.grad * 0.0025 * 5, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(b.grad, b2.grad, rtol=1e-3, atol=1e-6)  # bias unscaled


@pytest.mark.parametrize("mock", [True, False])
@pytest.mark.parametrize("length,k,s,e", [(43, 5, 2, 4), (100, 43, 2, 18), (20, 3, 1, 7),
                                          (12, 12, 1, 3), (30, 4, 3, 1)])
def test_expanded_conv1d_equals_conv1d_up_to_chunk_floors(ideal, mock, length, k, s, e):
    x = rand_ints((2, 1, length), 0, 31)
    w = rand_ints((3, 1, k), -63, 63)
    b = torch.tensor([1.5, -2., 0.])
    y = hxp.expanded_conv1d(x, w, b, stride=s, num_expansions=e, num_sends=2, mock=mock)
    ref = hxp.conv1d(x, w, b, stride=s, num_sends=2, mock=mock)
    assert y.shape == ref.shape
    # one chunk per 128 unrolled rows: the per-chunk floor may differ by that many LSB
    chunks = math.ceil((k + s * (e - 1)) / 128)
    assert (y - ref).abs().max() <= chunks


def test_expanded_conv1d_gradient():
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=0.5, gain=GAIN))
    x = (torch.rand(2, 2, 40) * 31).requires_grad_()
    w = ((torch.rand(3, 2, 5) - 0.5) * 100).requires_grad_()
    y = hxp.expanded_conv1d(x, w, stride=2, num_expansions=5, num_sends=4, mock=True)
    g = torch.randn(y.shape)
    y.backward(g)
    x2, w2 = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    torch.nn.functional.conv1d(x2, w2, stride=2).backward(g)
    torch.testing.assert_close(x.grad, x2.grad * GAIN * 4, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(w.grad, w2.grad * GAIN * 4, rtol=1e-3, atol=1e-5)


# -- relu, converting_relu, add, argmax -----------------------------------------------------------

VALUES = torch.tensor([[-300., -1.5, -0.2, 0., 0.7, 5.5, 126.9, 127.5, 400.]])


@pytest.mark.parametrize("mock", [True, False])
def test_relu(ideal, mock):
    x = VALUES.clone().requires_grad_()
    y = hxp.relu(x, mock=mock)
    assert y.tolist() == [[0., 0., 0., 0., 0., 5., 126., 127., 127.]]
    y.backward(torch.ones_like(y) * 2)
    assert x.grad.tolist() == [[0., 0., 0., 0., 2., 2., 2., 2., 2.]]


@pytest.mark.parametrize("mock", [True, False])
@pytest.mark.parametrize("shift", [0, 1, 2, 5])
def test_converting_relu(ideal, mock, shift):
    x = VALUES.clone().requires_grad_()
    y = hxp.converting_relu(x, shift=shift, mock=mock)
    want = torch.floor(torch.floor(VALUES).clamp(0, 127) / 2 ** shift).clamp(0, 31)
    assert torch.equal(y, want)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, (VALUES > 0).float() / 2 ** shift)
    assert hxp.converting_relu(VALUES, mock=mock).max() == 31  # default shift 2: 127 >> 2


def test_converting_relu_negative_shift():
    hxtorch.init_hardware(chip_id="ideal")
    with pytest.raises(RuntimeError, match=r"^Non-negative shift value expected\.$"):
        hxp.converting_relu(VALUES, shift=-1)
    # mock mode does not check it (the division multiplies), as in the original
    assert hxp.converting_relu(torch.tensor([3.]), shift=-1, mock=True).item() == 6.0


@pytest.mark.parametrize("mock", [True, False])
def test_add(ideal, mock):
    a = torch.tensor([[100.5, -100., 3.9], [0., -128.7, 127.]], requires_grad=True)
    b = torch.tensor([50., -50.2, -1.1], requires_grad=True)
    y = hxp.add(a, b, mock=mock)
    assert y.tolist() == [[127., -128., 1.], [50., -128., 125.]]
    y.backward(torch.ones_like(y))
    assert a.grad.tolist() == [[1.] * 3] * 2 and b.grad.tolist() == [2., 2., 2.]
    with pytest.raises(RuntimeError, match=r"^add only supports alpha = 1\.$"):
        hxp.add(a, b, alpha=2, mock=mock)


def test_add_shape_rules_per_mode(ideal):
    a, b = torch.ones(3), torch.ones(2, 3)
    assert hxp.add(a, b, mock=True).shape == (2, 3)  # torch broadcasting
    with pytest.raises(RuntimeError, match=r"^add operation only supports dim\(other\) <= "
                       r"dim\(input\)\.$"):
        hxp.add(a, b)
    with pytest.raises(RuntimeError, match=r"broadcast to the input's shape"):
        hxp.add(torch.ones(1, 3), torch.ones(2, 3))


@pytest.mark.parametrize("mock", [True, False])
def test_argmax_ties_and_dims(ideal, mock):
    g = torch.Generator().manual_seed(3)
    x = torch.randint(16, 25, (40, 12), generator=g).float() + 0.7  # heavy ties
    ref = torch.floor(x)
    assert torch.equal(hxp.argmax(x, mock=mock), torch.argmax(ref))
    assert hxp.argmax(x, mock=mock).dim() == 0
    for dim in (0, 1):
        for keepdim in (False, True):
            assert torch.equal(hxp.argmax(x, dim, keepdim, mock=mock),
                               torch.argmax(ref, dim, keepdim))
    x3 = x.reshape(4, 10, 12)
    assert torch.equal(hxp.argmax(x3, 1, mock=mock), torch.argmax(torch.floor(x3), 1))
    # int8 saturation first: 200 and 300 both count as 127, the first wins
    assert hxp.argmax(torch.tensor([5., 200., 300.]), mock=mock).item() == 1


def test_argmax_negative_dim_only_in_mock(ideal):
    x = torch.rand(3, 4)
    assert torch.equal(hxp.argmax(x, -1, mock=True), torch.argmax(torch.floor(x), -1))
    with pytest.raises(IndexError):
        hxp.argmax(x, -1)


@pytest.mark.parametrize("op", [lambda x: hxp.relu(x), lambda x: hxp.converting_relu(x),
                                lambda x: hxp.add(x, x), lambda x: hxp.argmax(x)])
def test_digital_ops_need_a_connection_in_hardware_mode(op):
    hxtorch.release_hardware()
    with pytest.raises(RuntimeError, match=r"^No connection allocated\.$"):
        op(torch.ones(2, 3))


# -- inference tracing ----------------------------------------------------------------------------

def test_inference_trace_of_relu(ideal, tmp_path):
    path = tmp_path / "trace.bin"
    tracer = hxp.InferenceTracer(str(path))
    x = torch.tensor([[-3., 4.5, 200.], [1., -1., 0.]])
    tracer.start()
    y = hxp.relu(x)
    hxp.relu(x, mock=True)  # mock ops are not traced
    assert tracer.stop() == ["relu"]
    assert torch.equal(hxp.inference_trace(x, str(path)), y)


def test_inference_trace_of_a_chain(ideal, tmp_path):
    path = tmp_path / "chain.bin"
    w = rand_ints((6, 6), -63, 63)
    x = rand_ints((4, 6), 0, 31)
    tracer = hxp.InferenceTracer(str(path))
    tracer.start()
    y = hxp.converting_relu(hxp.add(hxp.matmul(x, w, num_sends=4), torch.full((6,), 3.)))
    assert tracer.stop() == ["mac", "add", "converting_relu"]
    assert torch.equal(hxp.inference_trace(x, str(path)), y)


def test_tracer_errors(ideal, tmp_path):
    tracer = hxp.InferenceTracer(str(tmp_path / "t.bin"))
    tracer.start()
    try:
        hxp.relu(torch.ones(2, 3))
        with pytest.raises(RuntimeError, match=r"^Last traced output\(shape: \[2, 3\]\) does not "
                           r"match given input\(shape: \[3, 2\]\)\.$"):
            hxp.relu(torch.ones(3, 2))
        with pytest.raises(RuntimeError, match=r"^Tracing argmax operation only supported for "
                           r"2d input with dim=1 and keepdim enabled\.$"):
            hxp.argmax(torch.ones(2, 3))
        hxp.argmax(torch.ones(2, 3), 1, True)
    finally:
        assert tracer.stop() == ["relu", "argmax"]
    empty = hxp.InferenceTracer(str(tmp_path / "e.bin"))
    empty.start()
    assert empty.stop() == []
    with pytest.raises(RuntimeError, match=r"^Empty trace can't be run\.$"):
        hxp.inference_trace(torch.ones(2), str(tmp_path / "e.bin"))
    with pytest.raises(RuntimeError, match=r"^inference_trace can only operate on 1D or 2D "
                       r"input\.$"):
        hxp.inference_trace(torch.ones(1, 2, 3), str(tmp_path / "t.bin"))


# -- devices --------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_mock_keeps_the_cuda_device_and_matches_the_cpu():
    hxp.set_mock_parameter(hxp.MockParameter(0, GAIN))
    x = rand_ints((50, 300), 0, 31)
    w = rand_ints((300, 20), -63, 63).requires_grad_()
    y = hxp.matmul(x.cuda(), w.detach().cuda(), num_sends=3, mock=True)
    assert y.device.type == "cuda"
    assert torch.equal(y.cpu(), hxp.matmul(x, w.detach(), num_sends=3, mock=True))
    for op in (lambda t: hxp.relu(t, mock=True), lambda t: hxp.converting_relu(t, mock=True),
               lambda t: hxp.add(t, t, mock=True), lambda t: hxp.argmax(t, 1, mock=True)):
        assert op(y).device.type == "cuda"
    wc = w.detach().cuda().requires_grad_()
    hxp.matmul(x.cuda(), wc, num_sends=3, mock=True).sum().backward()
    assert wc.grad.device.type == "cuda"
    hxp.set_mock_parameter(hxp.MockParameter())
    assert hxp.matmul(x.cuda(), w.detach().cuda(), mock=True).device.type == "cuda"


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_hardware_rounding_is_lround_for_every_float(dtype):
    import decimal

    from frontend.perceptron import rounding

    vals = [0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997, -0.49999997, 16.5, -16.5, 31.4999, 0.0,
            1e-30, 0.49999999999999994, 62.5, -62.5]
    x = torch.tensor(vals, dtype=dtype)
    want = [float(decimal.Decimal(v).to_integral_value(rounding=decimal.ROUND_HALF_UP))
            for v in x.double().tolist()]
    assert rounding.half_away_from_zero(x).tolist() == want
    assert torch.round(x).tolist() != want  # mock mode rounds half to even
