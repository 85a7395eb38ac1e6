"""driver.mac.MAC: bit-exact on the ideal chip, digital routing properties, bad input."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver.base_config import hagen_base_configuration
from driver.containers import CrossbarNode, NeuronResetQuad, SynapseDriverConfig, Timer
from driver.coordinates import (
    CADCSampleRowOnDLS,
    CrossbarNodeOnDLS,
    NeuronResetQuadOnDLS,
    SynapseDriverOnDLS,
    TimerOnDLS,
)
from driver.mac import MAC, spike_label


def exact(x: np.ndarray, w: np.ndarray, num_sends: int) -> np.ndarray:
    """clamp(sum over 128-row chunks of clamp(floor(ns * x_c @ W_c / 500)), -128, 127)."""
    total = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    for i in range(0, w.shape[0], 128):
        s = num_sends * (x[:, i:i + 128].astype(np.int64) @ w[i:i + 128].astype(np.int64))
        total += np.clip(np.floor_divide(s, 500), -128, 127)
    return np.clip(total, -128, 127)


@pytest.fixture(scope="module")
def ideal():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    return conn


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_ideal_chip_equals_exact_formula(ideal, data):
    n_in = data.draw(st.integers(1, 300), label="inputs")
    n_out = data.draw(st.integers(1, 600), label="outputs")
    batch = data.draw(st.integers(1, 4), label="batch")
    ns = data.draw(st.integers(1, 40), label="num_sends")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    # bias towards saturation some of the time
    scale = data.draw(st.sampled_from([1, 4, 64]), label="weight scale")
    w = np.clip(rng.integers(-63, 64, (n_in, n_out)) * scale // 4, -63, 63)
    x = rng.integers(0, 32, (batch, n_in))
    x[rng.random(x.shape) < 0.2] = 0
    y = MAC(w, num_sends=ns).run(x, ideal)
    assert y.dtype == np.int8 and y.shape == (batch, n_out)
    assert np.array_equal(y.astype(np.int64), exact(x, w, ns))


def test_ideal_saturates_both_ways(ideal):
    x = np.full((2, 256), 31)
    w = np.concatenate([np.full((256, 3), 63), np.full((256, 3), -63)], axis=1)
    y = MAC(w, num_sends=3).run(x, ideal)
    assert (y[:, :3] == 127).all() and (y[:, 3:] == -128).all()


def test_zero_weight_or_zero_input_contributes_nothing(ideal):
    rng = np.random.default_rng(3)
    w = rng.integers(-63, 64, (128, 20))
    x = rng.integers(0, 32, (3, 128))
    w0 = w.copy()
    w0[5] = 0  # a zero weight row...
    x0 = x.copy()
    x0[:, 5] = 0  # ...or a zero input: no event at all
    expect = exact(x0, w, 1)
    assert np.array_equal(MAC(w).run(x0, ideal), expect)
    assert np.array_equal(MAC(w0).run(x0, ideal), expect)
    assert np.array_equal(MAC(w0).run(x, ideal), exact(x, w0, 1))


def test_an_event_for_driver_d_touches_only_its_rows(ideal):
    # one input per driver, a distinct output column per driver: only the diagonal lights up
    n = 16
    w = np.zeros((128, n), dtype=np.int64)
    for d in range(n):
        w[d, d] = 63
    for d in range(n):
        x = np.zeros((1, 128), dtype=np.int64)
        x[0, d] = 31
        y = MAC(w, num_sends=10).run(x, ideal)[0]
        assert y[d] == 31 * 63 * 10 // 500
        assert (np.delete(y, d) == 0).all()


def test_hagen_dac_offset_survives_a_mac():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    coord = SynapseDriverOnDLS(hemisphere=0, driver=3)
    b = PlaybackProgramBuilder()
    b.write(coord, conn.shadow.read(coord, SynapseDriverConfig).replace(hagen_dac_offset=17))
    conn.run(b.done())
    MAC(np.ones((128, 4), dtype=np.int64)).run(np.ones((1, 128), dtype=np.int64), conn)
    b = PlaybackProgramBuilder()
    t = b.read(coord)
    conn.run(b.done())
    cfg = t.get()
    assert cfg.hagen_dac_offset == 17
    assert cfg.enable_receiver and cfg.row_mode_top == SynapseDriverConfig.RowMode.excitatory


def _events_then_read(conn, break_crossbar: bool) -> np.ndarray:
    """Reset hemisphere 0, send the events of input 20 on all 128 drivers, read the CADC."""
    b = PlaybackProgramBuilder()
    if break_crossbar:
        for i in range(4):
            b.write(CrossbarNodeOnDLS(output=i, input=8 + i), CrossbarNode.drop_all)
    for q in range(64):
        b.write(NeuronResetQuadOnDLS(hemisphere=0, quad=q), NeuronResetQuad())
    b.reset_timer()
    b.spikes(np.arange(128) * 5 + 1000, spike_label(0, np.arange(128), 20))
    b.block_until(TimerOnDLS(), Timer.Value(3000))
    t = b.read(CADCSampleRowOnDLS(hemisphere=0, row=0, readout_type=0))
    conn.run(b.done())
    return np.asarray(t.get().causal)


def test_a_changed_crossbar_mask_routes_nothing():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    mac = MAC(np.full((128, 8), 10))
    assert (mac.run(np.full((1, 128), 20), conn) == 20 * 10 * 128 // 500).all()
    assert (_events_then_read(conn, False)[:8] == 128 + 20 * 10 * 128 // 500).all()
    assert (_events_then_read(conn, True)[:8] == 128).all()


def test_shapes_and_ranges_are_checked(ideal):
    with pytest.raises(OverflowError, match="64"):
        MAC(np.full((3, 3), 64))
    with pytest.raises(OverflowError):
        MAC(np.full((3, 3), -64))
    with pytest.raises(OverflowError):
        MAC(np.full((3, 3), 1.5))
    with pytest.raises(RuntimeError, match=r"shape \(3,\)"):
        MAC(np.ones(3))
    mac = MAC(np.ones((3, 2), dtype=np.int64))
    with pytest.raises(OverflowError, match="32"):
        mac.run(np.full((1, 3), 32), ideal)
    with pytest.raises(OverflowError):
        mac.run(np.full((1, 3), -1), ideal)
    with pytest.raises(RuntimeError, match=r"\(1, 4\).*\(3, 2\)"):
        mac.run(np.ones((1, 4), dtype=np.int64), ideal)
    with pytest.raises(ValueError, match="num_sends"):
        MAC(np.ones((3, 2)), num_sends=0)
    with pytest.raises(ValueError, match="wait_between_events"):
        MAC(np.ones((3, 2)), wait_between_events=0)
    assert mac.run(np.zeros((0, 3), dtype=np.int64), ideal).shape == (0, 2)


def test_chip_time_is_modelled_and_unchanged_config_is_not_rewritten():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    mac = MAC(np.full((128, 4), 3), num_sends=2, wait_between_events=10)
    mac.run(np.full((1, 128), 5), conn)
    first = mac.chip_time_s  # writes the 256 weight words that differ from zero
    mac.run(np.full((1, 128), 5), conn)
    again = mac.chip_time_s  # same weights: the differential writes skip them
    mac.run(np.full((10, 128), 5), conn)
    per_entry = (mac.chip_time_s - again) / 9
    # one entry: ~20 us baseline, 4 us reset, 128 * 2 * 10 cycles of events, 10 us read
    assert 40e-6 < per_entry < 100e-6
    assert first - again >= 2 * 256 / 125e6  # two instruction words per write
    assert np.array_equal(mac.run(np.full((1, 128), 5), conn),
                          exact(np.full((1, 128), 5), np.full((128, 4), 3), 2))
