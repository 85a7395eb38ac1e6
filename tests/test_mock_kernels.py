"""The mock's CPU kernels (frontend/perceptron/digitize.py): the noise generator against its
specification and the normal distribution, the noise stream that `digitize_into` adds, the
one-pass int8 rounding, and results that do not depend on the thread count."""

import math

import numpy as np
import pytest
import torch

from frontend.perceptron import digitize
from hxtorch import perceptron as hxp

MASK = (1 << 64) - 1


@pytest.fixture(autouse=True)
def _default_parameter():
    yield
    hxp.set_mock_parameter(hxp.MockParameter())


def phi(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF."""
    return 0.5 * (1.0 + np.frompyfunc(math.erf, 1, 1)(x / math.sqrt(2)).astype(float))


def reference_pairs(key: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The generator's specification in numpy and libm: splitmix64 outputs 2p and 2p + 1 of
    the stream `key`, Box-Muller with u1 = (top 53 bits + 1) / 2^53 and the angle
    (quadrant (2 low bits) + 1/2 + phi) quarter turns, phi from the top 53 bits."""
    z = (np.uint64(key) + np.arange(1, 2 * count + 1, dtype=np.uint64)
         * np.uint64(0x9E3779B97F4A7C15) - np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    r = z ^ (z >> np.uint64(31))
    r1, r2 = r[0::2], r[1::2]
    u1 = ((r1 >> np.uint64(11)).astype(np.float64) + 1) / 2.0 ** 53
    radius = np.sqrt(-2 * np.log(u1))
    quarter = (r2 & np.uint64(3)).astype(np.float64)
    phi_ = ((r2 >> np.uint64(11)).astype(np.float64) / 2.0 ** 53 - 0.5) * (np.pi / 2)
    angle = phi_ + quarter * (np.pi / 2)
    return radius * np.cos(angle), radius * np.sin(angle)


def test_generator_follows_its_specification():
    """ln, sin and cos are polynomials in the kernel: the samples agree with numpy's libm
    version of the same Box-Muller to 1e-13 (the rounding of the angle's sum)."""
    n1, n2 = np.empty(20000), np.empty(20000)
    key = 0xDEADBEEF12345678
    with np.errstate(over="ignore"):
        want1, want2 = reference_pairs(key, n1.size)
    digitize._normal_pairs(np.uint64(key), 0, n1, n2)
    assert np.abs(n1 - want1).max() < 1e-13 and np.abs(n2 - want2).max() < 1e-13
    # a later start continues the stream
    m1, m2 = np.empty(100), np.empty(100)
    digitize._normal_pairs(np.uint64(key), 5000, m1, m2)
    assert np.array_equal(m1, n1[5000:5100]) and np.array_equal(m2, n2[5000:5100])


@pytest.mark.parametrize("u", [2.0 ** -53, 2.0 ** -52 * 3, 1e-300, 0.25, 0.5, 0.7071067811865475,
                               0.7071067811865476, 0.9, 1 - 2.0 ** -53, 1.0])
def test_log_is_accurate_at_the_edges(u):
    want = math.log(u)
    assert abs(digitize._log_unit(u) - want) <= 4e-16 * max(abs(want), 1e-300) + 1e-300


def test_log_is_accurate_everywhere():
    u = np.random.default_rng(0).random(2000) ** 8 + 1e-300
    got = np.array([digitize._log_unit(float(v)) for v in u])
    assert np.max(np.abs(got - np.log(u)) / np.abs(np.log(u))) < 5e-16


def test_noise_samples_are_standard_normal():
    """1M samples: moments, bin frequencies over +-4.5 sigma with both tails, the far tail,
    and the Kolmogorov-Smirnov distance (critical values for p = 1e-3; one fixed seed)."""
    n = 1_000_000
    x = digitize.standard_normal(n, 7)
    assert abs(x.mean()) < 0.005 and abs(x.std() - 1) < 0.005
    assert abs((x ** 3).mean()) < 0.02 and abs((x ** 4).mean() - 3) < 0.05
    edges = np.concatenate([[-np.inf], np.linspace(-4.5, 4.5, 37), [np.inf]])
    counts = np.histogram(x, edges)[0]
    expected = n * np.diff(np.concatenate([[0.0], phi(edges[1:-1]), [1.0]]))
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 90  # 37 degrees of freedom: p < 1e-6 above 90
    beyond = int((np.abs(x) > 4).sum())  # expected 63.3
    assert 35 < beyond < 95
    sample = np.sort(x[:200_000])
    cdf = phi(sample)
    ks = max(np.max(np.arange(1, sample.size + 1) / sample.size - cdf),
             np.max(cdf - np.arange(sample.size) / sample.size))
    assert ks < 1.95 / math.sqrt(sample.size)
    assert np.abs(x).max() < math.sqrt(2 * 53 * math.log(2))  # u1 >= 2^-53


def test_pairs_and_neighbours_are_independent():
    n1, n2 = np.empty(500_000), np.empty(500_000)
    digitize._normal_pairs(np.uint64(11), 0, n1, n2)
    limit = 4.5 / math.sqrt(n1.size)  # about 4.5 sigma of a correlation estimate
    assert abs(np.corrcoef(n1, n2)[0, 1]) < limit
    assert abs(np.corrcoef(n1[:-1], n1[1:])[0, 1]) < limit
    assert abs(np.corrcoef(n1 ** 2, n2 ** 2)[0, 1]) < limit
    # the radius squared is exponential with mean 2, the angle uniform
    r2 = n1 ** 2 + n2 ** 2
    assert abs(r2.mean() - 2) < 0.02 and abs((r2 > 2 * math.log(100)).mean() - 0.01) < 0.001
    counts = np.histogram(np.arctan2(n2, n1), np.linspace(-np.pi, np.pi, 65))[0]
    chi2 = float(((counts - n1.size / 64) ** 2 / (n1.size / 64)).sum())
    assert chi2 < 120  # 63 degrees of freedom, p < 1e-6 above 120


@pytest.mark.parametrize("n", [1, 2, 5, 4095, 4096, 4097, 10001])
@pytest.mark.parametrize("mode", [digitize.WRITE, digitize.ADD, digitize.ADD_AND_CLAMP])
def test_digitize_adds_the_stream_before_the_floor(n, mode):
    """floor(acc * num_sends * gain + noise_std * sample) with the samples of
    `standard_normal` for the seed torch's generator gives, clamped, added per mode."""
    rng = np.random.default_rng(n)
    acc = rng.integers(-250_000, 250_000, n).astype(np.int32)
    start = rng.integers(-128, 128, n).astype(np.float32)
    out = torch.from_numpy(start.copy())
    torch.manual_seed(n)
    digitize.digitize_into(torch.from_numpy(acc), out, 3, 0.002, 1.5, mode)
    torch.manual_seed(n)
    seed = int(torch.randint(-(2 ** 63), 2 ** 63 - 1, (), dtype=torch.int64))
    level = acc * 3.0 * 0.002 + 1.5 * digitize.standard_normal(n, seed & MASK)
    want = np.clip(np.floor(level), -128, 127)
    if mode != digitize.WRITE:
        want = want + start
    if mode == digitize.ADD_AND_CLAMP:
        want = np.clip(want, -128, 127)
    assert np.array_equal(out.numpy(), want.astype(np.float32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64,
                                   torch.int16, torch.uint8])
def test_round_int8_rounds_half_to_even_and_checks_in_one_pass(dtype):
    values = [0.5, 1.5, 2.5, 16.5, 17.49, 30.5, 31.0, 3.0] if dtype.is_floating_point else \
        [0, 1, 2, 16, 17, 30, 31, 3]
    x = torch.tensor(values, dtype=dtype).reshape(2, 4).t()  # not contiguous
    q, outside = digitize.round_int8(x, 0, 31)
    assert outside is None and q.dtype == torch.int8 and q.shape == (4, 2)
    assert torch.equal(q, torch.round(x.double()).to(torch.int8))
    assert digitize.round_int8(torch.empty(0, 3, dtype=dtype), 0, 31)[1] is None
    bad = x.clone()
    bad[1, 1] = 32 if dtype == torch.uint8 else -40
    assert digitize.round_int8(bad, 0, 31)[1] == (float(bad.double().round().min()),
                                                  float(bad.double().round().max()))
    if dtype.is_floating_point:
        bad[0, 0] = float("nan")
        assert math.isnan(digitize.round_int8(bad, 0, 31)[1][0])


def test_mock_does_not_depend_on_the_thread_count():
    """torch's integer GEMM sums exactly and the numba kernels are serial: the same seed gives
    the same result with 1 and 2 torch threads."""
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=2.0, gain=0.002))
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 32, (700, 300), generator=g).float()
    w = torch.randint(-63, 64, (300, 200), generator=g).float()
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(9)
            results.append(hxp.matmul(x, w, mock=True))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(results[0], results[1])


def test_autograd_is_skipped_only_without_gradients():
    """Without inputs that need a gradient the mock skips autograd: same values, no graph."""
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=2.0, gain=0.002))
    x = torch.randint(0, 32, (50, 40)).float()
    w = torch.randint(-63, 64, (40, 30)).float()
    torch.manual_seed(4)
    plain = hxp.matmul(x, w, mock=True)
    torch.manual_seed(4)
    tracked = hxp.matmul(x, w.requires_grad_(), mock=True)
    assert torch.equal(plain, tracked)
    assert plain.grad_fn is None and tracked.grad_fn is not None
    with torch.no_grad():
        assert hxp.matmul(x, w, mock=True).grad_fn is None
