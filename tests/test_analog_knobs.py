"""Every analog knob of the HAGEN model moves what it should (chip 0, through the public API).

Each test compares a changed setting against the base configuration of the same chip, through
CADC reads of hand-built programs or MAC results, averaged over enough repeats that noise
cannot fake the effect, and asserts the direction. Knobs the MAC does not own are written
with a program before `MAC.run` (the MAC rewrites only its own fields, read-modify-write from
the connection's shadow); knobs the MAC owns (labels, row modes, column switches) are changed
after a MAC has configured the tile, and measured with hand-built event programs.
"""

import numpy as np
import pytest

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver import containers as C
from driver import coordinates as co
from driver.base_config import (
    HAGEN_DRIVER_CONFIG,
    HAGEN_NEURON_CONFIG,
    hagen_base_configuration,
)
from driver.mac import MAC, spike_label
from hwlayer.regmap import capmem as cm

CHIP = 0
SEED = 42
REPEATS = 20
REST_WAIT = 625  # FPGA cycles (5 us) after a neuron reset
NEURONS = np.arange(512)
HEMI = NEURONS // 256
COLUMN = NEURONS % 256
QUADRANT = 2 * HEMI + COLUMN // 128  # CapMem block of a neuron


def base_connection(seed=SEED):
    conn = EmulatorConnection(chip_id=CHIP, seed=seed)
    conn.run(hagen_base_configuration().to_program())
    return conn


@pytest.fixture
def conn():
    return base_connection()


def run_writes(conn, writes):
    b = PlaybackProgramBuilder()
    for coord, container in writes:
        b.write(coord, container)
    conn.run(b.done())


# --- CapMem ------------------------------------------------------------------------------------

def neuron_cell_writes(name, value, neurons=NEURONS):
    """CapMemCell writes setting the per-neuron cell `name` of `neurons` to `value`."""
    n = np.asarray(neurons)
    row = cm.NEURON_ROWS[name]
    return [cell_write(int(QUADRANT[i]), int(COLUMN[i] % 128), row, value) for i in n]


def cell_write(block, column, row, value):
    return (co.CapMemCellOnDLS(block=block, column=column, row=row), C.CapMemCell(value=value))


def quadrant_cell_write(name, block, value):
    return cell_write(block, *cm.QUADRANT_CELLS[name], value)


# --- hand-built programs -------------------------------------------------------------------------

def reset_all_neurons(b):
    for h in range(2):
        for q in range(64):
            b.write(co.NeuronResetQuadOnDLS(hemisphere=h, quad=q), C.NeuronResetQuad())


def read_row(b):
    return [b.read(co.CADCSampleRowOnDLS(hemisphere=h, row=0, readout_type=0)) for h in range(2)]


def causal(tickets):
    return np.concatenate([t.get().causal for t in tickets]).astype(np.int64)


def acausal(tickets):
    return np.concatenate([t.get().acausal for t in tickets]).astype(np.int64)


def reads_after_reset(conn, read_times=(REST_WAIT,), repeats=REPEATS, channels=causal):
    """(len(read_times), repeats, 512) CADC reads at `read_times` cycles after a reset."""
    b = PlaybackProgramBuilder()
    tickets = []
    for _ in range(repeats):
        b.write(co.TimerOnDLS(), C.Timer())
        reset_all_neurons(b)
        for t in read_times:
            b.block_until(co.TimerOnDLS(), C.Timer.Value(t))
            tickets.append(read_row(b))
    conn.run(b.done())
    out = np.array([channels(t) for t in tickets]).astype(np.float64)
    return out.reshape(repeats, len(read_times), 512).transpose(1, 0, 2)


def rest(conn, repeats=REPEATS, channels=causal):
    """(512,) mean membrane read REST_WAIT after a reset."""
    return reads_after_reset(conn, repeats=repeats, channels=channels)[0].mean(axis=0)


def configure_tile(conn):
    """Let a MAC write its fields (weight 21 everywhere, every driver receiving, all columns
    switched on, labels 0, routing for both hemispheres)."""
    MAC(np.full((128, 512), 21)).run(np.zeros((1, 128), dtype=np.int64), conn)


EVENT_TIMES = 1000 + 5 * np.arange(256)
EVENT_LABELS = spike_label(np.repeat(np.arange(2), 128), np.tile(np.arange(128), 2), 10)
T_READ = EVENT_TIMES[-1] + 200


def event_response(conn, repeats=REPEATS):
    """(512,) mean membrane change caused by activation 10 on all 128 drivers of both
    hemispheres: (read - baseline) with the events minus the same without them."""
    b = PlaybackProgramBuilder()
    tickets = []
    for _ in range(repeats):
        for with_events in (False, True):
            b.write(co.TimerOnDLS(), C.Timer())
            reset_all_neurons(b)
            b.block_until(co.TimerOnDLS(), C.Timer.Value(REST_WAIT))
            before = read_row(b)
            if with_events:
                b.spikes(EVENT_TIMES, EVENT_LABELS)
            b.block_until(co.TimerOnDLS(), C.Timer.Value(T_READ))
            tickets.append((before, read_row(b)))
    conn.run(b.done())
    d = np.array([causal(t1) - causal(t0) for t0, t1 in tickets]).astype(np.float64)
    d = d.reshape(repeats, 2, 512)
    return (d[:, 1] - d[:, 0]).mean(axis=0)


# --- MAC measurements ----------------------------------------------------------------------------

def mac_mean(conn, weight, activation=5, rows=None, num_sends=1):
    """(512,) mean MAC output over REPEATS for a uniform weight; `rows` selects the inputs
    that carry the activation (default all 128)."""
    x = np.zeros((REPEATS, 128), dtype=np.int64)
    x[:, slice(None) if rows is None else rows] = activation
    y = MAC(np.full((128, 512), weight), num_sends=num_sends).run(x, conn)
    return y.astype(np.float64).mean(axis=0)


def ratio(changed, base):
    return changed / base


# === per-neuron CapMem cells ======================================================================

CHANGED = NEURONS[(HEMI == 0) & (COLUMN < 64)]  # h0 columns 0..63: block 0, columns 0..63
UNCHANGED = np.setdiff1d(NEURONS, CHANGED)


def test_v_reset_moves_the_resting_read_of_that_neuron_only(conn):
    base = rest(conn)
    run_writes(conn, neuron_cell_writes("v_reset", 425, CHANGED))  # +100 CapMem LSB
    moved = rest(conn) - base
    assert (moved[CHANGED] > 30).all(), moved[CHANGED].min()
    assert 40 < np.median(moved[CHANGED]) < 75, np.median(moved[CHANGED])
    assert np.abs(moved[UNCHANGED]).max() < 2.5, np.abs(moved[UNCHANGED]).max()


def test_v_leak_is_where_the_leak_relaxes_the_membrane_to(conn):
    times = (REST_WAIT, 25000)  # 5 us and 200 us after the reset
    off = reads_after_reset(conn, times).mean(axis=1)
    run_writes(conn, neuron_cell_writes("v_leak", 425, CHANGED))
    off_moved = reads_after_reset(conn, times).mean(axis=1) - off
    # leak on (i_bias_leak > 0): the membrane relaxes towards v_leak
    run_writes(conn, neuron_cell_writes("v_leak", 325) + neuron_cell_writes("i_bias_leak", 1022))
    on = reads_after_reset(conn, times).mean(axis=1)
    run_writes(conn, neuron_cell_writes("v_leak", 425, CHANGED))
    on_moved = reads_after_reset(conn, times).mean(axis=1) - on
    early, late = on_moved[:, CHANGED]
    assert np.median(late) > 40, np.median(late)  # ~ the full 100 CapMem LSB at 200 us
    assert (late > early + 20).all()  # it got there by relaxing after the reset
    assert (late > off_moved[1, CHANGED] + 10).all()  # far more than the pseudo-leak alone
    assert np.abs(on_moved[:, UNCHANGED]).max() < 2.5


@pytest.mark.parametrize("kind, weight", [("exc", 21), ("inh", -21)])
def test_synin_gm_raises_the_gain_of_its_own_sign(conn, kind, weight):
    base_own, base_other = mac_mean(conn, weight), mac_mean(conn, -weight)
    run_writes(conn, neuron_cell_writes(f"i_bias_synin_{kind}_gm", 700))  # 450 -> 700
    own, other = ratio(mac_mean(conn, weight), base_own), ratio(mac_mean(conn, -weight),
                                                                 base_other)
    assert 1.35 < np.median(own) < 1.8, np.median(own)
    assert (own > 1.15).mean() > 0.95, (own > 1.15).mean()
    assert 0.95 < np.median(other) < 1.05, np.median(other)  # the other sign is untouched


@pytest.mark.parametrize("kind, weight", [("exc", 21), ("inh", -21)])
def test_synin_tau_changes_the_gain(conn, kind, weight):
    base = mac_mean(conn, weight)
    run_writes(conn, neuron_cell_writes(f"i_bias_synin_{kind}_tau", 30))  # slower synapse
    r = ratio(mac_mean(conn, weight), base)
    assert 0.5 < np.median(r) < 0.85, np.median(r)
    assert (r < 0.95).mean() > 0.95


@pytest.mark.parametrize("kind, sign", [("exc", +1), ("inh", -1)])
def test_synin_shift_changes_the_drift_between_reset_and_read(conn, kind, sign):
    times = (REST_WAIT, 6250)  # 5 us and 50 us after the reset
    r = reads_after_reset(conn, times).mean(axis=1)
    base_drift = r[1] - r[0]
    run_writes(conn, neuron_cell_writes(f"i_bias_synin_{kind}_shift", 410))  # 310 -> 410
    r = reads_after_reset(conn, times).mean(axis=1)
    change = sign * (r[1] - r[0] - base_drift)
    assert np.median(change) > 12, np.median(change)
    assert (change > 4).mean() > 0.9, (change > 4).mean()


def test_smaller_membrane_capacitor_gives_larger_output(conn):
    base = mac_mean(conn, 21)
    run_writes(conn, [(co.NeuronConfigOnDLS(hemisphere=h, column=c),
                       HAGEN_NEURON_CONFIG.replace(membrane_capacitor_size=31))
                      for h in range(2) for c in range(256)])
    r = ratio(mac_mean(conn, 21), base)
    assert 1.6 < np.median(r) < 2.4, np.median(r)
    assert (r > 1.3).mean() > 0.95


def test_readout_source_selects_what_the_cadc_reads(conn):
    def set_neurons(**fields):
        run_writes(conn, [(co.NeuronConfigOnDLS(hemisphere=h, column=c),
                           HAGEN_NEURON_CONFIG.replace(**fields))
                          for h in range(2) for c in range(256)])

    membrane = rest(conn)
    set_neurons(readout_source=C.NeuronConfig.ReadoutSource.exc_synin)
    exc = rest(conn)
    set_neurons(readout_source=C.NeuronConfig.ReadoutSource.inh_synin)
    inh = rest(conn)
    for other in (exc, inh):
        assert (np.abs(other - membrane) > 3).mean() > 0.8
    assert (np.abs(exc - inh) > 3).mean() > 0.8
    # the synaptic input lines follow their own reference shift, the membrane read does not
    run_writes(conn, neuron_cell_writes("i_bias_synin_inh_shift", 410))
    assert np.median(rest(conn) - inh) > 20
    set_neurons(readout_source=C.NeuronConfig.ReadoutSource.membrane)
    assert np.median(np.abs(rest(conn) - membrane)) < 3  # only the slow drift after a reset
    # a disabled readout amplifier leaves the channel floating: the ramp never crosses it
    set_neurons(enable_readout_amplifier=False)
    floating = reads_after_reset(conn, repeats=3)
    assert (floating == 255).all()


# === per-quadrant and global cells ================================================================

def test_syn_i_bias_dac_scales_the_gain_of_its_quadrant(conn):
    base = mac_mean(conn, 21)
    run_writes(conn, [quadrant_cell_write("syn_i_bias_dac", 0, 600)])  # 1022 -> 600
    r = ratio(mac_mean(conn, 21), base)
    assert 0.45 < np.median(r[QUADRANT == 0]) < 0.75, np.median(r[QUADRANT == 0])
    assert (r[QUADRANT == 0] < 0.85).all()
    assert 0.95 < np.median(r[QUADRANT != 0]) < 1.05


@pytest.mark.parametrize("name", ["stp_i_ramp", "stp_i_calib"])
def test_stp_ramp_cells_change_the_pulse_amplitude_of_their_drivers(conn, name):
    """Block 0 serves the even synapse drivers of hemisphere 0 (west)."""
    even, odd = np.arange(0, 128, 2), np.arange(1, 128, 2)
    base_even = mac_mean(conn, 21, activation=10, rows=even)
    base_odd = mac_mean(conn, 21, activation=10, rows=odd)
    run_writes(conn, [quadrant_cell_write(name, 0, 1000)])  # 600 -> 1000
    r_even = ratio(mac_mean(conn, 21, activation=10, rows=even), base_even)
    r_odd = ratio(mac_mean(conn, 21, activation=10, rows=odd), base_odd)
    assert 0.6 < np.median(r_even[HEMI == 0]) < 0.88, np.median(r_even[HEMI == 0])
    assert (r_even[HEMI == 0] < 0.95).mean() > 0.95
    for untouched in (r_even[HEMI == 1], r_odd):
        assert 0.95 < np.median(untouched) < 1.05, np.median(untouched)


@pytest.mark.parametrize("name, hemisphere", [("hagen_ibias_dac_top", 0),
                                              ("hagen_ibias_dac_bottom", 1)])
def test_hagen_ibias_dac_scales_its_hemisphere(conn, name, hemisphere):
    base = mac_mean(conn, 21)
    run_writes(conn, [cell_write(*cm.SINGLE_CELLS[name], 500)])  # 820 -> 500
    r = ratio(mac_mean(conn, 21), base)
    assert 0.45 < np.median(r[HEMI == hemisphere]) < 0.75, np.median(r[HEMI == hemisphere])
    assert (r[HEMI == hemisphere] < 0.85).mean() > 0.95
    assert 0.95 < np.median(r[HEMI != hemisphere]) < 1.05


# === synapse driver fields ========================================================================

@pytest.mark.parametrize("field, value, direction", [
    ("offset", 15, -1), ("offset", 0, +1),
    ("hagen_dac_offset", 0, -1), ("hagen_dac_offset", 63, +1)])
def test_driver_offset_fields_move_the_activation_offset(field, value, direction):
    """One driver at a time (activation 12, weight 63, num_sends 20): drivers 0..63 of both
    hemispheres get the changed field, written before the MAC; it survives the MAC."""
    drivers = np.arange(0, 128, 4)  # 16 changed (< 64), 16 unchanged
    x = np.zeros((2 * drivers.size, 128), dtype=np.int64)
    x[np.arange(x.shape[0]), np.tile(drivers, 2)] = 12
    mac = MAC(np.full((128, 512), 63), num_sends=20)

    def per_driver(conn):
        y = mac.run(x, conn).astype(np.float64)
        return np.stack([np.median(y[:, 256 * h:256 * (h + 1)], axis=1) for h in range(2)])

    results = []
    for changed in (False, True):
        conn = base_connection()
        if changed:
            cfg = HAGEN_DRIVER_CONFIG.replace(**{field: value})
            run_writes(conn, [(co.SynapseDriverOnDLS(hemisphere=h, driver=d), cfg)
                              for h in range(2) for d in range(64)])
        results.append(per_driver(conn))
        if changed:
            kept = conn.shadow.read(co.SynapseDriverOnDLS(hemisphere=1, driver=5),
                                    C.SynapseDriverConfig)
            assert getattr(kept, field) == value
    delta = (results[1] - results[0]).reshape(2, 2, drivers.size)  # (h, entry half, driver)
    delta = delta.mean(axis=1)  # the batch holds every driver twice
    moved = direction * delta[:, drivers < 64]
    assert np.median(moved) > 3, np.median(moved)
    assert (moved > 0.5).mean() > 0.9, moved
    assert np.abs(np.median(delta[:, drivers >= 64])) < 0.5


# === CADC =========================================================================================

def test_cadc_v_ramp_offset_shifts_the_reads_of_its_quadrant(conn):
    base = rest(conn)
    run_writes(conn, [quadrant_cell_write("cadc_v_ramp_offset", 0, 165)])  # 115 -> 165
    moved = rest(conn) - base
    assert (moved[QUADRANT == 0] < -15).all()
    assert -40 < np.median(moved[QUADRANT == 0]) < -20, np.median(moved[QUADRANT == 0])
    assert np.abs(moved[QUADRANT != 0]).max() < 2.5


def test_cadc_i_ramp_slope_scales_the_reads_of_its_quadrant(conn):
    """Two fixed voltages (v_reset 325 and 375) read at the base and at a steeper bias."""
    def step():
        low = rest(conn)
        run_writes(conn, neuron_cell_writes("v_reset", 375))
        high = rest(conn)
        run_writes(conn, neuron_cell_writes("v_reset", 325))
        return high - low

    base = step()
    run_writes(conn, [quadrant_cell_write("cadc_i_ramp_slope", 0, 500)])  # 350 -> 500
    r = step() / base
    assert 0.6 < np.median(r[QUADRANT == 0]) < 0.8, np.median(r[QUADRANT == 0])
    assert (r[QUADRANT == 0] < 0.9).all()
    assert 0.93 < np.median(r[QUADRANT != 0]) < 1.07


def test_cadc_channel_offset_shifts_the_raw_read_exactly():
    """Same chip, same seed, same program: only the digital offsets of the causal channels
    differ, so every read moves by exactly its channel's offset (clipped to 0..255)."""
    def measure(offsets):
        conn = base_connection(seed=9)
        run_writes(conn, [(co.CADCChannelConfigOnDLS(hemisphere=h, channel_type=0, column=c),
                           C.CADCChannelConfig(offset=int(offsets[256 * h + c])))
                          for h in range(2) for c in range(256)])
        return [reads_after_reset(conn, repeats=5, channels=ch)[0] for ch in (causal, acausal)]

    plain, plain_acausal = measure(np.zeros(512, dtype=np.int64))
    offsets = (np.arange(512) % 41) - 20
    order = np.argsort(plain.mean(axis=0))
    offsets[order[-5:]] = 127  # the highest reads clip at 255
    offsets[order[:5]] = -128  # the lowest at 0
    shifted, shifted_acausal = measure(offsets)
    np.testing.assert_array_equal(shifted, np.clip(plain + offsets, 0, 255))
    np.testing.assert_array_equal(shifted_acausal, plain_acausal)  # other channel type
    assert (plain + offsets > 255).any() and (plain + offsets < 0).any()  # clipping was tested


def test_capmem_debug_readout_follows_the_chosen_cell(conn):
    """Block 0's cell (column 5, row 2 = v_threshold, unused in HAGEN mode) on hemisphere 0's
    debug line, into every causal channel of hemisphere 0."""
    block, column, row = 0, 5, cm.NEURON_ROWS["v_threshold"]
    run_writes(conn, [
        (co.CADCDebugLineConfigOnDLS(hemisphere=0),
         C.CADCDebugLineConfig(enable=True, capmem_block=block)),
        (co.CapMemBlockConfigOnDLS(block=block),
         C.CapMemBlockConfig(enable_debug_readout=True, debug_readout_row=row,
                             debug_readout_column=column)),
        *[(co.ColumnCorrelationQuadOnDLS(hemisphere=0, quad=q),
           C.ColumnCorrelationQuad(enable_internal_causal=True, enable_internal_acausal=True,
                                   enable_debug_causal=True,
                                   enable_cadc_neuron_readout_causal=True,
                                   enable_cadc_neuron_readout_acausal=True))
          for q in range(64)]])
    values = np.arange(200, 401, 25)
    reads, membranes = [], []
    for v in values:
        run_writes(conn, [cell_write(block, column, row, int(v))])
        r = reads_after_reset(conn, repeats=5)[0].mean(axis=0)
        reads.append(r[:256])
        membranes.append(r[256:])
    reads = np.array(reads)
    for quadrant in (0, 1):
        mean = reads[:, 128 * quadrant:128 * (quadrant + 1)].mean(axis=1)
        slope, icpt = np.polyfit(values, mean, 1)
        assert 0.4 < slope < 0.75, slope  # ~ CADC LSB per CapMem LSB of the ramp
        assert np.abs(mean - (slope * values + icpt)).max() < 2  # linear
    assert (np.diff(reads, axis=0) > 5).all()  # every channel follows the cell
    assert np.ptp(np.array(membranes), axis=0).max() < 6  # hemisphere 1 still reads membranes
    # the debug line driven by no block floats: the ramp never crosses it
    run_writes(conn, [(co.CADCDebugLineConfigOnDLS(hemisphere=0), C.CADCDebugLineConfig())])
    assert (reads_after_reset(conn, repeats=2)[0][:, :256] == 255).all()


def test_cadc_disabled_reads_zero(conn):
    run_writes(conn, [(co.CADCConfigOnDLS(hemisphere=0), C.CADCConfig(enable=False))])
    r = reads_after_reset(conn, repeats=3)[0]
    assert (r[:, :256] == 0).all()
    assert r[:, 256:].mean() > 50  # the other hemisphere still converts


# === fields the MAC owns: measured with hand-built event programs =================================

def assert_no_output(resp):
    """Zero within the noise of the mean of 20 differences of two read pairs (~0.5 LSB)."""
    assert np.abs(resp).mean() < 0.7, np.abs(resp).mean()
    assert np.abs(resp).max() < 3, np.abs(resp).max()


def test_event_program_reference(conn):
    """With the MAC's own configuration, the hand-built events give the expected output."""
    configure_tile(conn)
    resp = event_response(conn)
    assert 30 < np.median(resp) < 80, np.median(resp)  # ideal 10 x 21 x 128 / 500 = 54
    assert (resp > 20).mean() > 0.95


def test_column_current_switches_off_give_no_output(conn):
    configure_tile(conn)
    off = C.ColumnCurrentQuad(enable_synaptic_current_excitatory=False,
                              enable_synaptic_current_inhibitory=False)
    run_writes(conn, [(co.ColumnCurrentQuadOnDLS(hemisphere=0, quad=q), off) for q in range(32)])
    resp = event_response(conn)
    switched = (HEMI == 0) & (COLUMN % 2 == 0)  # quads 0..31 hold the even columns
    assert_no_output(resp[switched])
    assert (resp[~switched] > 20).mean() > 0.95


def test_disabled_row_modes_give_no_output(conn):
    configure_tile(conn)
    writes = []
    for d in range(128):
        coord = co.SynapseDriverOnDLS(hemisphere=0, driver=d)
        cfg = conn.shadow.read(coord, C.SynapseDriverConfig)
        writes.append((coord, cfg.replace(row_mode_top=0, row_mode_bottom=0)))
    run_writes(conn, writes)
    resp = event_response(conn)
    assert_no_output(resp[HEMI == 0])
    assert (resp[HEMI == 1] > 20).mean() > 0.95


def test_nonzero_synapse_labels_give_no_output(conn):
    configure_tile(conn)
    run_writes(conn, [(co.SynapseLabelMatrixOnDLS(hemisphere=0),
                       C.SynapseLabelMatrix(labels=np.full((256, 256), 5)))])
    resp = event_response(conn)
    assert_no_output(resp[HEMI == 0])
    assert (resp[HEMI == 1] > 20).mean() > 0.95
