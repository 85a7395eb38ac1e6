"""The analog core's building blocks (docs/performance.md): the libm-free decay and soft rails,
the CADC conversion from per-channel source tables, borrowed arrays and the synapse rows
(the fast path's label table and periodic tails: tests/test_fast_path.py)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from hwlayer.emulator import analog as A
from hwlayer.emulator.borrow import borrow


@njit(cache=False)
def _elementwise(fn, x):
    """fn (a jitted scalar function of the core) applied to every element of x."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = fn(x[i])
    return out


def test_decay_is_exp_to_libm_accuracy():
    x = np.concatenate([np.linspace(0.0, 0.02, 2001), np.linspace(0.01, 70.0, 200001),
                        [0.01, np.nextafter(0.01, 0), 63.999999, 64.0, 1e6]])
    got, want = _elementwise(A._decay, x), np.exp(-x)
    small = x < 0.01  # the cubic, as since the first model
    assert np.all(np.abs(got[small] - want[small]) < 5e-10)
    mid = (x >= 0.01) & (x < 64)
    assert np.all(np.abs(got[mid] - want[mid]) <= 1e-15 * want[mid])
    assert np.all(got[x >= 64] == 0.0) and np.all(want[x >= 64] < 2e-28)


# --- the CADC conversion against the per-channel dispatch it replaced --------------------------

def _convert_oracle(V, S, hemi_f, neuron_f, neuron_i, channel_f, channel_i, quad_f, z, ideal, h,
                    ctype):
    """The conversion as written before the source tables: per channel, what it sees."""
    out = np.zeros(256, dtype=np.int64)
    if hemi_f[h, A.HF_CADC_ENABLE] == 0.0:
        return out
    base_ch = h * 512 + ctype * 256
    for c in range(256):
        n, ch = h * 256 + c, base_ch + c
        mode, source = channel_i[A.CI_MODE, ch], neuron_i[A.NI_READOUT, n]
        digital = channel_i[A.CI_DIGITAL_OFFSET, ch]
        if ideal:
            if mode == A.CHANNEL_FLOATING or (mode == A.CHANNEL_NEURON
                                              and source == A.READOUT_FLOATING):
                raw = 255
            elif mode == A.CHANNEL_NEURON and source == A.READOUT_MEMBRANE:
                raw = A.IDEAL_REST + S[n] // A.IDEAL_DIVISOR
            else:
                raw = A.IDEAL_REST
            out[c] = min(max(raw + digital, 0), 255)
            continue
        if mode == A.CHANNEL_NEURON:
            v = A.neuron_voltage(V, S, neuron_f, False, n, source)
            sigma = neuron_f[A.NF_SIGMA, n]
        elif mode == A.CHANNEL_DEBUG:
            v, sigma = hemi_f[h, A.HF_DEBUG_V], A.DEBUG_NOISE
        else:
            v, sigma = A.FLOATING, 0.0
        q = 2 * h + c // 128
        lin = min(max((v + sigma * np.float64(z[c]) - quad_f[q, A.QF_V0]) * quad_f[q, A.QF_SLOPE]
                      + channel_f[0, ch], -A.CADC_LIN_MAX), A.CADC_LIN_MAX)
        x = max(lin - A.CADC_NONLINEAR_START, 0.0) / 75.0
        lin -= A.CADC_NONLINEAR_SCALE * x * x
        raw = np.floor(lin) + digital
        if v >= A.FLOATING:
            raw = 255.0
        out[c] = int(min(max(raw, 0.0), 255.0))
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ideal=st.booleans(), h=st.integers(0, 1),
       ctype=st.integers(0, 1), debug_floats=st.booleans())
def test_conversion_matches_the_per_channel_dispatch(seed, ideal, h, ctype, debug_floats):
    rng = np.random.default_rng(seed)
    V = rng.uniform(-200, 1300, 512).astype(np.float32)  # many beyond the rails
    S = rng.integers(-40000, 40000, 512)
    neuron_f = np.zeros((A.NF_COUNT, 512))
    neuron_f[A.NF_V_LO] = rng.uniform(0, 200, 512)
    neuron_f[A.NF_V_HI] = rng.uniform(800, 1100, 512)
    neuron_f[A.NF_SIGMA] = rng.uniform(0, 3, 512)
    for row in (A.NF_V_SYNIN_EXC, A.NF_V_SYNIN_INH, A.NF_V_ADAPT):
        neuron_f[row] = rng.uniform(100, 900, 512)
    neuron_i = np.zeros((A.NI_COUNT, 512), dtype=np.int64)
    neuron_i[A.NI_READOUT] = rng.integers(0, 5, 512)
    channel_i = np.zeros((A.CI_COUNT, 1024), dtype=np.int64)
    channel_i[A.CI_MODE] = rng.integers(0, 3, 1024)
    channel_i[A.CI_DIGITAL_OFFSET] = rng.integers(-40, 40, 1024)
    channel_f = rng.normal(0, 5, (1, 1024))
    hemi_f = np.zeros((2, A.HF_COUNT))
    hemi_f[:, A.HF_CADC_ENABLE] = 1.0
    hemi_f[:, A.HF_DEBUG_V] = A.FLOATING if debug_floats else rng.uniform(100, 900, 2)
    quad_f = np.zeros((4, A.QF_COUNT))
    quad_f[:, A.QF_V0] = rng.uniform(100, 300, 4)
    quad_f[:, A.QF_SLOPE] = rng.uniform(0.2, 0.6, 4)
    noise = rng.standard_normal(256).astype(np.float32)
    kind, volt, sigma = A.cadc_sources(channel_i, neuron_f, neuron_i, hemi_f)
    state = np.zeros(A.ST_COUNT, dtype=np.int64)
    out = np.zeros(256, dtype=np.int64)
    A._convert(V, S, neuron_f, channel_f, channel_i, kind, volt, sigma, quad_f, noise, state,
               np.zeros(256), out, True, ideal, h, ctype)
    want = _convert_oracle(V, S, hemi_f, neuron_f, neuron_i, channel_f, channel_i, quad_f,
                           noise, ideal, h, ctype)
    assert np.array_equal(out, want)
    assert state[A.ST_NOISE_INDEX] == (0 if ideal else 256)


# --- borrowed arrays ---------------------------------------------------------------------------

@njit(cache=False)
def _through_borrowed(pair):
    b = borrow(pair)
    b[0][0] += 1.0
    view = b[1][1:]
    view[:] = 7
    return b[0].sum() + b[1].sum()


def test_borrowed_arrays_share_data_and_nest():
    pair = (np.zeros(3), np.zeros(4, dtype=np.int64))
    assert _through_borrowed(pair) == 1.0 + 21
    assert pair[0][0] == 1.0 and list(pair[1]) == [0, 7, 7, 7]


def test_soft_rail_tanh_matches_libm():
    y = np.concatenate([np.geomspace(1e-9, 40.0, 100001), [0.005, 0.00500001, 32.0]])
    got = _elementwise(A._tanh_positive, y)
    assert np.max(np.abs(got - np.tanh(y))) < 1e-9  # the decay's cubic below 0.01
    big = y > 0.006
    assert np.all(np.abs(got[big] - np.tanh(y[big])) <= 4e-16)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ideal=st.booleans())
def test_synapse_rows_match_the_numpy_expressions(seed, ideal):
    """configuration._synapse_rows against the numpy expressions it replaced, bit for bit."""
    from hwlayer.emulator.configuration import _synapse_rows

    rng = np.random.default_rng(seed)
    weights = rng.integers(0, 64, (2, 256, 256))
    labels = rng.choice([0, 32, 5], (2, 256, 256))
    exc_row, inh_row = rng.integers(0, 2, (2, 2, 256))
    sw_exc, sw_inh, en_exc, en_inh = rng.integers(0, 2, (4, 2, 256))
    g_exc, g_inh = rng.uniform(0.5, 2.0, (2, 2, 256))
    gain = rng.lognormal(0, 0.1, (2, 256, 256))
    out = (np.zeros((2, 256, 256), dtype=np.int64), np.zeros((2, 256, 256)),
           np.zeros((2, 2, 128, 256), dtype=np.int32), np.zeros((2, 2, 128, 256), np.float32))
    _synapse_rows(weights, labels, exc_row, inh_row, sw_exc, sw_inh, en_exc, en_inh, g_exc,
                  g_inh, gain, ideal, *out)
    e, i = exc_row[:, :, None], inh_row[:, :, None]
    sign = e * sw_exc[:, None, :] * en_exc[:, None, :] - i * sw_inh[:, None, :] * en_inh[:, None, :]
    wrow_int = sign * weights
    line = e * sw_exc[:, None, :] * g_exc[:, None, :] - i * sw_inh[:, None, :] * g_inh[:, None, :]
    wrow = line * weights * gain
    assert np.array_equal(out[0], wrow_int)
    for b in (0, 1):
        m = (labels == 32 * b).reshape(2, 128, 2, 256)
        assert np.array_equal(out[2][:, b], (wrow_int.reshape(2, 128, 2, 256) * m).sum(axis=2))
        if not ideal:
            want = (wrow.reshape(2, 128, 2, 256) * m).sum(axis=2).astype(np.float32)
            assert np.array_equal(out[3][:, b].view(np.uint32), want.view(np.uint32))
    if not ideal:
        assert np.array_equal(out[1].view(np.uint64), wrow.view(np.uint64))
