"""Regressions found in review: floating channels, steep CADC ramps, event timing vs. MADC and
PPU work, decay factors after a parameter refresh."""

import numpy as np
import pytest

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver.base_config import hagen_base_configuration
from driver.containers import (
    CADCDebugLineConfig,
    CapMemBlockConfig,
    CapMemCell,
    ColumnCorrelationQuad,
    MADCConfig,
    MADCControl,
    NeuronResetQuad,
    Timer,
)
from driver.coordinates import (
    CADCDebugLineConfigOnDLS,
    CADCSampleRowOnDLS,
    CapMemBlockConfigOnDLS,
    CapMemCellOnDLS,
    ColumnCorrelationQuadOnDLS,
    MADCConfigOnDLS,
    MADCControlOnDLS,
    NeuronResetQuadOnDLS,
    TimerOnDLS,
)
from driver.mac import MAC, spike_label
from hwlayer.regmap import capmem as cm


def _base(chip):
    conn = EmulatorConnection(chip, seed=5)
    conn.run(hagen_base_configuration().to_program())
    return conn


def _read_row(conn, builder=None):
    b = builder or PlaybackProgramBuilder()
    t = b.read(CADCSampleRowOnDLS(hemisphere=0, row=0, readout_type=0))
    conn.run(b.done())
    return np.asarray(t.get().causal)


def test_unconnected_channels_read_full_scale_on_every_chip():
    for chip in (0, "ideal"):
        conn = _base(chip)
        b = PlaybackProgramBuilder()
        b.write(ColumnCorrelationQuadOnDLS(hemisphere=0, quad=0), ColumnCorrelationQuad())
        raw = _read_row(conn, b)
        assert (raw[[0, 2, 4, 6]] == 255).all(), chip  # quad 0 holds columns 0, 2, 4, 6
        assert (raw[[1, 3, 5, 7]] < 255).all()


def test_a_steep_ramp_is_monotonic_and_saturates_high():
    """The debug line carries a CapMem cell's voltage; reads never fall as it rises."""
    conn = _base(0)
    b = PlaybackProgramBuilder()
    col, row = cm.QUADRANT_CELLS["cadc_i_ramp_slope"]
    b.write(CapMemCellOnDLS(block=0, column=col, row=row), CapMemCell(value=15))
    b.write(CADCDebugLineConfigOnDLS(hemisphere=0), CADCDebugLineConfig(enable=True,
                                                                        capmem_block=0))
    b.write(ColumnCorrelationQuadOnDLS(hemisphere=0, quad=0),
            ColumnCorrelationQuad(enable_debug_causal=True))
    b.write(CapMemBlockConfigOnDLS(block=0), CapMemBlockConfig(
        enable_debug_readout=True, debug_readout_column=5, debug_readout_row=0))
    conn.run(b.done())
    reads = []
    for value in range(100, 1001, 25):
        b = PlaybackProgramBuilder()
        b.write(CapMemCellOnDLS(block=0, column=5, row=0), CapMemCell(value=value))
        reads.append(_read_row(conn, b)[0])
    assert (np.diff(reads) >= -1).all()  # monotonic up to noise
    assert reads[0] == 0 and reads[-1] == 255


def test_madc_sees_every_event_at_its_time():
    conn = _base("ideal")
    MAC(np.full((128, 256), 40)).run(np.zeros((1, 128), dtype=np.int64), conn)
    b = PlaybackProgramBuilder()
    b.write(TimerOnDLS(), Timer())  # first: sample times below are relative to it
    b.write(MADCConfigOnDLS(), MADCConfig(enable=True, neuron=0, sample_period=12,
                                          number_of_samples=150))
    b.write(NeuronResetQuadOnDLS(hemisphere=0, quad=0), NeuronResetQuad())
    b.write(MADCControlOnDLS(), MADCControl(start_recording=True))
    times = np.array([700, 900, 1100, 1300])
    b.spikes(times, spike_label(0, np.zeros(4, dtype=np.int64), 31))
    b.block_until(TimerOnDLS(), Timer.Value(1800))
    p = b.done()
    info = conn.run(p)
    t, v = p.result.madc_samples()
    t = t - info.start_cycle
    step = 31 * 40 * 0.0035
    for k, te in enumerate(times):
        before = v[(t > te - 50) & (t < te)]
        after = v[(t > te + 2) & (t < te + 50)]
        assert (before == round(339 + k * step)).all()
        assert (after == round(339 + (k + 1) * step)).all()


@pytest.mark.parametrize("path", ["reference", "fast"])
def test_decay_factors_follow_a_parameter_change(path, monkeypatch):
    from hwlayer.emulator import analog as A

    monkeypatch.setenv("HXEMU_ANALOG_PATH", path)
    conn = _base(0)
    MAC(np.full((128, 4), 10)).run(np.zeros((1, 128), dtype=np.int64), conn)
    chip = conn._chip
    leak_row = cm.NEURON_ROWS["i_bias_leak"]
    b = PlaybackProgramBuilder()
    b.write(TimerOnDLS(), Timer())
    b.spikes(np.array([1000, 1005]), spike_label(0, np.zeros(2, dtype=np.int64), 10))
    b.block_until(TimerOnDLS(), Timer.Value(1006))
    b.write(CapMemCellOnDLS(block=0, column=0, row=leak_row), CapMemCell(value=1022))
    b.spikes(np.array([1011]), spike_label(0, np.zeros(1, dtype=np.int64), 10))
    conn.run(b.done())
    lam = chip.params.neuron_f[A.NF_LAMBDA, 0]
    if path == "reference":
        r = chip.r_cache[0]
    else:  # the decay table: the row of the 6-cycle step of hemisphere 0
        r = chip.decay_table[0, list(chip.decay_key[0]).index(1011 - 1005), 0]
    assert np.isclose(r, np.exp(-lam * (1011 - 1005)), rtol=1e-7)
