"""The analog HAGEN core in numba: events -> pulses -> synaptic charge -> membrane -> CADC.

State is advanced lazily: a hemisphere's membranes are brought to time t only when something
happens there (an event, a reset, a conversion, an MADC sample). Between such moments every
membrane follows dV/dt = -lambda (V - V_inf) exactly (one exp per neuron and distinct time
step, cached for equally spaced events). Events add `pulse * K[h, msb, driver, column]`, the
per-driver effective weight row that `configuration.py` derives from the registers. The ideal
chip runs an exact integer path instead: S += activation * Kint, read = 128 + S // 500.

All arrays travel in one named structure, `AnalogState` (`an`); `chip.py` builds it and
every function reads its fields by name.
Equations and parameter meanings: docs/analog-model.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from hwlayer.regmap import instructions as isa
from hwlayer.regmap import ppu_program as ppu
from hwlayer.regmap.registers import COLUMN_ENTRY, COLUMN_QUAD, QUAD_ENTRY_COLUMN


class AnalogState(NamedTuple):
    """The analog core's arrays, by name (numba compiles field access like a tuple's).

    State of the membranes and the PPU/MADC machines, the model parameters that
    `configuration.ModelParameters` derives from the registers, and per-program buffers.
    """

    V: np.ndarray  # float32 (512,) membranes, CapMem LSB
    S: np.ndarray  # int64 (512,) ideal chip: exact accumulated activation x weight
    hold: np.ndarray  # int64 (512,) end of each neuron's refractory hold (FPGA cycles)
    hemi_s: np.ndarray  # float64 (2, HS_COUNT) per-hemisphere state
    hemi_f: np.ndarray  # float64 (2, HF_COUNT) per-hemisphere parameters
    neuron_f: np.ndarray  # float64 (NF_COUNT, 512)
    neuron_i: np.ndarray  # int64 (NI_COUNT, 512)
    r_cache: np.ndarray  # float32 (512,) the reference event loop's decay factors of its last step
    xbar: np.ndarray  # int64 (76, 2) crossbar (mask, target)
    padi: np.ndarray  # int64 (2, 4) PADI buses accepting SPL1 events
    driver_f: np.ndarray  # float64 (DF_COUNT, 256)
    driver_i: np.ndarray  # int64 (DI_COUNT, 256)
    K: np.ndarray  # float32 (2, 2, 128, 256) effective weight rows per driver and msb
    Kint: np.ndarray  # int32 (2, 2, 128, 256) the ideal chip's signed integer rows
    Wrow: np.ndarray  # float64 (2, 256, 256) per synapse row (address forwarding path)
    Wrow_int: np.ndarray  # int64 (2, 256, 256)
    labels: np.ndarray  # int64 (2, 256, 256) synapse labels
    channel_f: np.ndarray  # float64 (1, 1024) CADC channel offsets
    channel_i: np.ndarray  # int64 (CI_COUNT, 1024)
    quad_f: np.ndarray  # float64 (4, QF_COUNT) CADC ramp per quadrant
    noise: np.ndarray  # float32 standard-normal pool of this program
    state: np.ndarray  # int64 (ST_COUNT,)
    ppu_s: np.ndarray  # int64 (2, PS_COUNT) PPU command machines
    ppu_slot0: np.ndarray  # int64 (2,) storage slot of each PPU memory's first word
    madc: np.ndarray  # int64 (MC_COUNT,) MADC configuration
    madc_t: np.ndarray  # int64 MADC sample times of this program
    madc_v: np.ndarray  # int64 MADC sample values of this program
    conv: np.ndarray  # int64 (2, 2, 256) last CADC conversion per hemisphere and type
    routes: np.ndarray  # int64 (2, 4, 32) accepting-driver bits per bus and row select
    flags: np.ndarray  # int64 [0]: a receiving driver is not plain hagen (general path)
    v_inf32: np.ndarray  # float32 (512,) leak potentials
    cadc_kind: np.ndarray  # int64 (1024,) what each CADC channel sees (`cadc_sources`)
    cadc_v: np.ndarray  # float64 (1024,) its fixed voltage (CADC_CONSTANT, CADC_FLOATING)
    cadc_sigma: np.ndarray  # float64 (1024,) its noise
    scratch: np.ndarray  # float64 (256,) scratch of a conversion
    dkey: np.ndarray  # float64 (2, DECAY_SLOTS) time step of each decay table row (-1: none)
    dtab: np.ndarray  # float32 (2, DECAY_SLOTS, 256) decay factors per hemisphere and step
    dnext: np.ndarray  # int64 (2,) next decay table row to replace


# neuron_f columns
(NF_V_RESET, NF_V_INF, NF_LAMBDA, NF_V_HI, NF_V_LO, NF_SIGMA, NF_V_SYNIN_EXC, NF_V_SYNIN_INH,
 NF_V_ADAPT, NF_COUNT) = range(10)
# neuron_i columns; readout sources as in NeuronConfig.readout_source, plus floating
NI_READOUT, NI_REFRACTORY, NI_RESET_OK, NI_COUNT = range(4)
READOUT_MEMBRANE, READOUT_EXC, READOUT_INH, READOUT_ADAPT, READOUT_FLOATING = range(5)
# driver_f / driver_i columns
DF_ACT_OFFSET, DF_PULSE_SCALE, DF_EXTENSION, DF_COUNT = range(4)
DI_RECEIVER, DI_MASK, DI_ADDRESS_OUT, DI_HAGEN, DI_COUNT = range(5)
# channel_i columns and modes
CI_MODE, CI_DIGITAL_OFFSET, CI_COUNT = range(3)
CHANNEL_FLOATING, CHANNEL_NEURON, CHANNEL_DEBUG = range(3)
# what a CADC channel sees (cadc_sources)
CADC_MEMBRANE, CADC_CONSTANT, CADC_FLOATING = range(3)
# quad_f, hemi_f (configuration) and hemi_s (state) columns
QF_V0, QF_SLOPE, QF_COUNT = range(3)
HF_DEBUG_V, HF_CADC_ENABLE, HF_COUNT = range(3)
HS_T, HS_DT_CACHE, HS_HOLD_ACTIVE, HS_COUNT = range(4)
# state (int64) entries
(ST_NOISE_INDEX, ST_IDEAL, ST_DUE, ST_MADC_ACTIVE, ST_MADC_NEXT, ST_MADC_REMAINING,
 ST_MADC_COUNT, ST_MADC_OVERFLOW, ST_COUNT) = range(9)
# madc config entries (from MADCConfig)
MC_ENABLE, MC_NEURON, MC_SOURCE, MC_PERIOD, MC_SAMPLES, MC_COUNT = range(6)
# ppu_s columns
PS_RUNNING, PS_CMD, PS_PHASE, PS_NEXT, PS_COUNT = range(5)
NEVER = np.int64(2**62)
DECAY_SLOTS = 8  # time steps with cached decay factors, per hemisphere

SATURATION_KNEE = 40.0  # CapMem LSB between the linear range and the rail
CADC_NONLINEAR_START = 180.0  # CADC LSB where the ramp starts to bend
CADC_NONLINEAR_SCALE = 4.0
CADC_LIN_MAX = 400.0  # far beyond the 8-bit range, below the bend's maximum (883)
IDEAL_DIVISOR = 500  # ideal chip: read = 128 + floor(S / 500)
IDEAL_REST = 128
IDEAL_V_REST = 339.0  # ideal chip: membrane voltage (CapMem LSB) at rest, for the MADC
IDEAL_V_PER_UNIT = 0.0035  # ideal chip: CapMem LSB per activation x weight
DEBUG_NOISE = 0.3  # CapMem LSB noise of a conversion of the debug line
FLOATING = 1e9  # an undriven comparator input: the ramp never crosses it

S_IDLE = ppu.STATUS["idle"]
S_RESET = ppu.STATUS["reset_neurons"]
S_BASELINE = ppu.STATUS["baseline_read"]
S_READ = ppu.STATUS["read"]
S_STOP = ppu.STATUS["stop"]


@njit(cache=True, inline="always")
def _hagen_activation(addr):
    """The activation a synapse address carries in HAGEN mode."""
    return isa.HAGEN_ACTIVATION_CODE - (addr & isa.HAGEN_ACTIVATION_MASK)


# --- membranes ----------------------------------------------------------------------------------

# Hot loops index 1-d slices with range(256): provably non-negative indices let LLVM drop
# numba's negative-index wraparound and vectorise.

# e^-n for the integer part of a decay exponent; beyond the table exp(-x) < 1e-27 counts as 0
_EXP_NEG_INT = np.exp(-np.arange(64, dtype=np.float64))
_EXP_NEG_HALF = float(np.exp(-0.5))


@njit(cache=True, fastmath=True, inline="always")
def _decay(x):
    """exp(-x) for x >= 0 without a libm call, so that loops over columns vectorise.

    A cubic below 0.01 (error < 5e-10, as since the first model); above, for x = n + f,
    e^-n (a table) times e^-1/2 times a degree-14 Taylor polynomial of e^-(f - 1/2) (relative
    error below 5e-16, libm's order); 0 from x = 64 on (e^-64 < 2e-28).
    """
    if x < 0.01:
        return 1.0 - x * (1.0 - x * (0.5 - x / 6.0))
    if x >= 64.0:
        return 0.0
    n = np.int64(x)
    u = -(x - n - 0.5)
    p = 1.0 / 87178291200.0
    p = p * u + 1.0 / 6227020800.0
    p = p * u + 1.0 / 479001600.0
    p = p * u + 1.0 / 39916800.0
    p = p * u + 1.0 / 3628800.0
    p = p * u + 1.0 / 362880.0
    p = p * u + 1.0 / 40320.0
    p = p * u + 1.0 / 5040.0
    p = p * u + 1.0 / 720.0
    p = p * u + 1.0 / 120.0
    p = p * u + 1.0 / 24.0
    p = p * u + 1.0 / 6.0
    p = p * u + 0.5
    p = p * u + 1.0
    p = p * u + 1.0
    return _EXP_NEG_INT[n] * _EXP_NEG_HALF * p


@njit(cache=True, fastmath=True)
def _decay_factors(r_cache, neuron_f, base, dt):
    r = r_cache[base:base + 256]
    lam = neuron_f[NF_LAMBDA, base:base + 256]
    for c in range(256):
        r[c] = _decay(lam[c] * dt)


@njit(cache=True, fastmath=True)
def _relax(V, v_inf32, r_cache, base):
    v = V[base:base + 256]
    v_inf = v_inf32[base:base + 256]
    r = r_cache[base:base + 256]
    for c in range(256):
        v[c] = v_inf[c] + (v[c] - v_inf[c]) * r[c]


@njit(cache=True, fastmath=True)
def _add_row(V, K, h, b, d, base, p):
    v = V[base:base + 256]
    k = K[h, b, d]
    for c in range(256):
        v[c] += p * k[c]


@njit(cache=True)
def _add_row_exact(S, hold, Kint, h, b, d, base, a, t):
    s = S[base:base + 256]
    held = hold[base:base + 256]
    k = Kint[h, b, d]
    for c in range(256):
        if held[c] <= t:
            s[c] += a * k[c]


@njit(cache=True, fastmath=True)
def _advance_held(V, hold, hemi_s, neuron_f, h, t0, t):
    """Advance through refractory holds: a held neuron sits at its reset potential and relaxes
    from the end of its hold."""
    base = h * 256
    v = V[base:base + 256]
    held = hold[base:base + 256]
    v_reset = neuron_f[NF_V_RESET, base:base + 256]
    v_inf = neuron_f[NF_V_INF, base:base + 256]
    lam = neuron_f[NF_LAMBDA, base:base + 256]
    still = 0
    for c in range(256):
        vc = v_reset[c] if held[c] > t0 else np.float64(v[c])
        x = lam[c] * max(t - max(t0, held[c]), 0)
        v[c] = v_inf[c] + (vc - v_inf[c]) * _decay(x)
        still += held[c] >= t
    hemi_s[h, HS_HOLD_ACTIVE] = 1.0 if still else 0.0
    hemi_s[h, HS_DT_CACHE] = -1.0


@njit(cache=True, inline="always")
def decay_slot(dkey, dtab, dnext, neuron_f, h, dt):
    """The row of the decay table (`AnalogState.dtab`) that holds the 256 float32 decay
    factors of hemisphere h over a step of dt cycles; derived on first use (round robin over
    DECAY_SLOTS rows). A MAC program has a handful of distinct steps (event spacing, reset to
    first event, last event to conversion), so after the first entry no step costs an exp."""
    for s in range(DECAY_SLOTS):
        if dkey[h, s] == dt:
            return s
    s = dnext[h]
    dnext[h] = (s + 1) % DECAY_SLOTS
    dkey[h, s] = dt
    for c in range(256):
        dtab[h, s, c] = _decay(neuron_f[NF_LAMBDA, h * 256 + c] * dt)
    return s


@njit(cache=True, fastmath=True)
def _advance(V, hold, hemi_s, neuron_f, v_inf32, dkey, dtab, dnext, ideal, h, t):
    """Bring the membranes of hemisphere h to time t (t never decreases), with the decay
    factors from the table (`decay_slot`)."""
    t0 = hemi_s[h, HS_T]
    dt = t - t0
    if dt <= 0:
        return
    hemi_s[h, HS_T] = t
    if ideal:
        return
    if hemi_s[h, HS_HOLD_ACTIVE] != 0.0:
        _advance_held(V, hold, hemi_s, neuron_f, h, t0, t)
        return
    s = decay_slot(dkey, dtab, dnext, neuron_f, h, dt)
    v = V[h * 256:h * 256 + 256]
    v_inf = v_inf32[h * 256:h * 256 + 256]
    r = dtab[h, s]
    for c in range(256):
        v[c] = v_inf[c] + (v[c] - v_inf[c]) * r[c]


@njit(cache=True, inline="always")
def advance(an, h, t):
    """Bring the membranes of hemisphere h to time t (t never decreases)."""
    _advance(an.V, an.hold, an.hemi_s, an.neuron_f, an.v_inf32, an.dkey, an.dtab, an.dnext,
             an.state[ST_IDEAL] != 0, h, t)


@njit(cache=True)
def reset_neuron(V, S, hold, hemi_s, neuron_f, neuron_i, n, t):
    """Pull neuron n to its reset potential and hold it there for the refractory time."""
    if neuron_i[NI_RESET_OK, n] == 0:
        return
    V[n] = neuron_f[NF_V_RESET, n]
    S[n] = 0
    hold[n] = t + neuron_i[NI_REFRACTORY, n]
    hemi_s[n // 256, HS_HOLD_ACTIVE] = 1.0


@njit(cache=True, inline="always")
def reset_quad(an, h, q, t):
    """NeuronResetQuad: the 4 neurons of quad column q of hemisphere h."""
    advance(an, h, t)
    for e in range(4):
        reset_neuron(an.V, an.S, an.hold, an.hemi_s, an.neuron_f, an.neuron_i,
                     h * 256 + QUAD_ENTRY_COLUMN[q, e], t)


# --- events ------------------------------------------------------------------------------------

@njit(cache=True)
def _deliver(V, S, hold, driver_f, driver_i, K, Kint, Wrow, Wrow_int, labels, ideal, h, d,
             addr, t):
    """One event reaches driver d of hemisphere h with 6-bit address `addr`."""
    gd = h * 128 + d
    base = h * 256
    hagen = driver_i[DI_HAGEN, gd] != 0
    forward_all = driver_i[DI_ADDRESS_OUT, gd] != 0
    b = (addr >> 5) & 1
    if ideal:
        a_int = _hagen_activation(addr) if hagen else 32
        if not forward_all:
            _add_row_exact(S, hold, Kint, h, b, d, base, a_int, t)
        else:
            for row in (2 * d, 2 * d + 1):
                for c in range(256):
                    if labels[h, row, c] == addr and hold[base + c] <= t:
                        S[base + c] += a_int * Wrow_int[h, row, c]
        return
    if hagen:
        a = _hagen_activation(addr) - driver_f[DF_ACT_OFFSET, gd]
        if a < 0.0:
            a = 0.0
    else:
        a = 32.0
    p = (a + driver_f[DF_EXTENSION, gd]) * driver_f[DF_PULSE_SCALE, gd]
    if p <= 0.0:
        return
    if not forward_all:
        _add_row(V, K, h, b, d, base, p)
    else:
        for row in (2 * d, 2 * d + 1):
            for c in range(256):
                if labels[h, row, c] == addr:
                    V[base + c] += p * Wrow[h, row, c]


@njit(cache=True)
def _to_drivers(V, S, hold, hemi_s, neuron_f, v_inf32, dkey, dtab, dnext, driver_f, driver_i,
                routes, K, Kint, Wrow, Wrow_int, labels, ideal, h, bus, row_select, addr, t):
    """Deliver to the drivers of PADI bus `bus` that accept `row_select` (routes[h, bus, rs]:
    bit j set = driver bus + 4 j has its receiver on and matches under its compare mask)."""
    bits = routes[h, bus, row_select]
    if bits == 0:
        return
    _advance(V, hold, hemi_s, neuron_f, v_inf32, dkey, dtab, dnext, ideal, h, t)
    j = 0
    while bits:
        if bits & 1:
            _deliver(V, S, hold, driver_f, driver_i, K, Kint, Wrow, Wrow_int, labels, ideal,
                     h, bus + 4 * j, addr, t)
        bits >>= 1
        j += 1


@njit(cache=True, inline="always")
def _route(label, xbar, padi, routes, targets):
    """Crossbar, PADI bus and row select for an FPGA spike label: fills targets[k] =
    (hemisphere, bus, accepting-driver bits) and returns their number."""
    spl1 = label >> isa.LABEL_SPL1_SHIFT
    neuron_label = label & isa.LABEL_NEURON_MASK
    row_select = (label >> isa.LABEL_ROW_SELECT_SHIFT) & isa.LABEL_ROW_SELECT_MASK
    n = 0
    for out in range(8):
        node = 24 + 9 * spl1 + out
        if (neuron_label & xbar[node, 0]) != xbar[node, 1]:
            continue
        h = out // 4
        bus = out % 4
        if padi[h, bus] == 0 or routes[h, bus, row_select] == 0:
            continue
        targets[n, 0] = h
        targets[n, 1] = bus
        targets[n, 2] = routes[h, bus, row_select]
        n += 1
    return n


@njit(cache=True)
def route_event(V, S, hold, hemi_s, neuron_f, v_inf32, dkey, dtab, dnext, xbar, padi, driver_f,
                driver_i, routes, K, Kint, Wrow, Wrow_int, labels, ideal, label, t):
    """An FPGA spike label through crossbar, PADI bus and row-select to the synapse drivers.

    Takes the arrays explicitly (not the bundle): the general path for address forwarding.
    """
    targets = np.empty((8, 3), dtype=np.int64)
    for k in range(_route(label, xbar, padi, routes, targets)):
        _to_drivers(V, S, hold, hemi_s, neuron_f, v_inf32, dkey, dtab, dnext, driver_f, driver_i,
                    routes, K, Kint, Wrow, Wrow_int, labels, ideal, targets[k, 0], targets[k, 1],
                    (label >> isa.LABEL_ROW_SELECT_SHIFT) & isa.LABEL_ROW_SELECT_MASK,
                    label & isa.LABEL_ADDRESS_MASK, t)


@njit(cache=True, inline="always")
def hagen_pulse(addr, act_offset, extension, scale):
    """The pulse (>= 0) of a HAGEN-mode driver for a 6-bit event address."""
    a = _hagen_activation(addr) - act_offset
    if a < 0.0:
        a = 0.0
    p = (a + extension) * scale
    return p if p > 0.0 else 0.0


@njit(cache=True, fastmath=True)
def _flush_analog(V, hold, hemi_s, neuron_f, v_inf32, r_cache, xbar, padi, driver_f, driver_i,
                  routes, K, ev_t, ev_l, start, end):
    """Apply recorded events [start, end) to the membranes; the hot loop of the analog chip.

    Drivers with address forwarding (non-HAGEN use) take the general path (`_deliver`).
    """
    targets = np.empty((8, 3), dtype=np.int64)
    for i in range(start, end):
        label = ev_l[i]
        t = ev_t[i]
        addr = label & isa.LABEL_ADDRESS_MASK
        b = (addr >> 5) & 1
        for k in range(_route(label, xbar, padi, routes, targets)):
            h, bus, bits = targets[k, 0], targets[k, 1], targets[k, 2]
            base = h * 256
            # advance the hemisphere to t; the relaxation is fused into the first addition
            relax = False
            dt = t - hemi_s[h, HS_T]
            if dt > 0:
                t0 = hemi_s[h, HS_T]
                hemi_s[h, HS_T] = t
                if hemi_s[h, HS_HOLD_ACTIVE] != 0.0:
                    _advance_held(V, hold, hemi_s, neuron_f, h, t0, t)
                else:
                    if hemi_s[h, HS_DT_CACHE] != dt:
                        _decay_factors(r_cache, neuron_f, base, dt)
                        hemi_s[h, HS_DT_CACHE] = dt
                    relax = True
            v = V[base:base + 256]
            j = 0
            while bits:
                while (bits & 0xFF) == 0:  # skip to the next accepting driver
                    bits >>= 8
                    j += 8
                if bits & 1:
                    d = bus + 4 * j
                    gd = h * 128 + d
                    p = hagen_pulse(addr, driver_f[DF_ACT_OFFSET, gd],
                                    driver_f[DF_EXTENSION, gd], driver_f[DF_PULSE_SCALE, gd])
                    k = K[h, b, d]
                    pf = np.float32(p)
                    if relax:
                        v_inf = v_inf32[base:base + 256]
                        r = r_cache[base:base + 256]
                        for c in range(256):
                            v[c] = v_inf[c] + (v[c] - v_inf[c]) * r[c] + pf * k[c]
                        relax = False
                    elif p > 0.0:
                        for c in range(256):
                            v[c] += pf * k[c]
                bits >>= 1
                j += 1
            if relax:
                _relax(V, v_inf32, r_cache, base)


@njit(cache=True)
def _flush_ideal(S, hold, hemi_s, xbar, padi, driver_i, routes, Kint, ev_t, ev_l, start, end):
    """Apply recorded events [start, end) exactly (the ideal chip)."""
    targets = np.empty((8, 3), dtype=np.int64)
    for i in range(start, end):
        label = ev_l[i]
        t = ev_t[i]
        addr = label & isa.LABEL_ADDRESS_MASK
        b = (addr >> 5) & 1
        for k in range(_route(label, xbar, padi, routes, targets)):
            h, bus, bits = targets[k, 0], targets[k, 1], targets[k, 2]
            if t > hemi_s[h, HS_T]:
                hemi_s[h, HS_T] = t
            j = 0
            while bits:
                if bits & 1:
                    d = bus + 4 * j
                    _add_row_exact(S, hold, Kint, h, b, d, h * 256, _hagen_activation(addr), t)
                bits >>= 1
                j += 1


@njit(cache=True)
def flush_events(an, ev_t, ev_l, start, end):
    """Apply the recorded but not yet applied events [start, end) in time order.

    The fast paths assume every receiving driver is in hagen mode without address forwarding
    (flags[0] == 0, derived from the registers); otherwise each event takes the general path.
    """
    V, S, hold, hemi_s, neuron_f = an.V, an.S, an.hold, an.hemi_s, an.neuron_f
    r_cache, xbar, padi = an.r_cache, an.xbar, an.padi
    driver_f, driver_i, K, Kint, routes = an.driver_f, an.driver_i, an.K, an.Kint, an.routes
    v_inf32 = an.v_inf32
    ideal = an.state[ST_IDEAL] != 0
    if an.flags[0] != 0:
        for i in range(start, end):
            route_event(V, S, hold, hemi_s, neuron_f, v_inf32, an.dkey, an.dtab, an.dnext, xbar,
                        padi, driver_f, driver_i, routes, K, Kint, an.Wrow, an.Wrow_int,
                        an.labels, ideal, ev_l[i], ev_t[i])
    elif ideal:
        _flush_ideal(S, hold, hemi_s, xbar, padi, driver_i, routes, Kint, ev_t, ev_l, start,
                     end)
    else:
        _flush_analog(V, hold, hemi_s, neuron_f, v_inf32, r_cache, xbar, padi, driver_f, driver_i,
                      routes, K, ev_t, ev_l, start, end)


@njit(cache=True, inline="always")
def padi_event(an, h, word, t):
    """A PADIEvent register write: an on-chip event on the selected buses of hemisphere h."""
    ideal = an.state[ST_IDEAL] != 0
    padi = an.padi
    for bus in range(4):
        # a bus that accepts SPL1 (FPGA) events ignores PADI events (mutually exclusive)
        if (word >> bus) & 1 and padi[h, bus] == 0:
            _to_drivers(an.V, an.S, an.hold, an.hemi_s, an.neuron_f, an.v_inf32, an.dkey,
                        an.dtab, an.dnext, an.driver_f, an.driver_i, an.routes, an.K, an.Kint,
                        an.Wrow,
                        an.Wrow_int, an.labels, ideal, h, bus,
                        (word >> 22) & 0x1F, (word >> 16) & 0x3F, t)


# --- readout -----------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _tanh_positive(y):
    """tanh(y) for y > 0 through `_decay` (no libm call, so loops over channels vectorise)."""
    e = _decay(2.0 * y)
    return (1.0 - e) / (1.0 + e)


@njit(cache=True, inline="always")
def saturate(v, lo, hi):
    """Soft rails: linear inside [lo + knee, hi - knee], compressive (tanh) beyond."""
    top = hi - SATURATION_KNEE
    if v > top:
        return top + SATURATION_KNEE * _tanh_positive((v - top) / SATURATION_KNEE)
    bottom = lo + SATURATION_KNEE
    if v < bottom:
        return bottom - SATURATION_KNEE * _tanh_positive((bottom - v) / SATURATION_KNEE)
    return v


@njit(cache=True, inline="always")
def neuron_voltage(V, S, neuron_f, ideal, n, source):
    """The voltage (CapMem LSB) the neuron presents for a readout source."""
    if source == READOUT_FLOATING:
        return FLOATING
    if ideal:
        if source == READOUT_MEMBRANE:
            return IDEAL_V_REST + S[n] * IDEAL_V_PER_UNIT
        return IDEAL_V_REST
    if source == READOUT_MEMBRANE:
        return saturate(V[n], neuron_f[NF_V_LO, n], neuron_f[NF_V_HI, n])
    if source == READOUT_EXC:
        return neuron_f[NF_V_SYNIN_EXC, n]
    if source == READOUT_INH:
        return neuron_f[NF_V_SYNIN_INH, n]
    return neuron_f[NF_V_ADAPT, n]


@njit(cache=True, inline="always")
def next_noise(an):
    noise, state = an.noise, an.state
    i = state[ST_NOISE_INDEX]
    if i >= noise.size:
        i = 0  # the pool is sized for the program; reuse only as a last resort
    state[ST_NOISE_INDEX] = i + 1
    return noise[i]


def cadc_sources(channel_i: np.ndarray, neuron_f: np.ndarray, neuron_i: np.ndarray,
                 hemi_f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each of the 1024 CADC channels (h * 512 + type * 256 + column) sees: (kind, voltage,
    noise sigma). Kinds: CADC_MEMBRANE (the neuron's membrane, read at conversion time),
    CADC_CONSTANT (a fixed voltage: synaptic input, adaptation or the debug line) and
    CADC_FLOATING (an undriven input). Derived when the configuration changes, so that a
    conversion is one branch-free pass (`_convert`)."""
    mode = channel_i[CI_MODE].reshape(2, 2, 256)
    source = np.broadcast_to(neuron_i[NI_READOUT].reshape(2, 1, 256), mode.shape)
    nf = neuron_f.reshape(NF_COUNT, 2, 1, 256)
    neuron = mode == CHANNEL_NEURON
    kind = np.full(mode.shape, CADC_CONSTANT, dtype=np.int64)
    kind[neuron & (source == READOUT_MEMBRANE)] = CADC_MEMBRANE
    kind[(mode == CHANNEL_FLOATING) | neuron & (source == READOUT_FLOATING)] = CADC_FLOATING
    volt = np.full(mode.shape, FLOATING)
    for src, row in ((READOUT_EXC, NF_V_SYNIN_EXC), (READOUT_INH, NF_V_SYNIN_INH),
                     (READOUT_ADAPT, NF_V_ADAPT)):
        sel = neuron & (source == src)
        volt[sel] = np.broadcast_to(nf[row], mode.shape)[sel]
    debug = mode == CHANNEL_DEBUG
    volt[debug] = np.broadcast_to(hemi_f[:, HF_DEBUG_V].reshape(2, 1, 1), mode.shape)[debug]
    sigma = np.where(neuron, np.broadcast_to(nf[NF_SIGMA], mode.shape), 0.0)
    sigma[debug] = DEBUG_NOISE
    sigma[kind == CADC_FLOATING] = 0.0
    return kind.reshape(1024), volt.reshape(1024), sigma.reshape(1024)


@njit(cache=True)
def _convert(V, S, neuron_f, channel_f, channel_i, cadc_kind, cadc_v, cadc_sigma, quad_f,
             noise, state, v, out, cadc_on, ideal, h, ctype):
    """The ramp conversion of the 256 channels of one type of hemisphere h into out[256].

    What each channel sees comes from `cadc_sources` (derived with the configuration); a
    membrane beyond the linear range of its rails takes the soft rail (`saturate`) in a second,
    rarely entered loop. `v` is scratch (256 float64). Every conversion consumes 256 samples of
    the noise pool.
    """
    base_ch = h * 512 + ctype * 256
    if not cadc_on:
        for c in range(256):
            out[c] = 0
        return
    kind = cadc_kind[base_ch:base_ch + 256]
    digital = channel_i[CI_DIGITAL_OFFSET, base_ch:base_ch + 256]
    if ideal:
        s = S[h * 256:h * 256 + 256]
        for c in range(256):
            raw = IDEAL_REST + s[c] // IDEAL_DIVISOR if kind[c] == CADC_MEMBRANE else (
                255 if kind[c] == CADC_FLOATING else IDEAL_REST)
            out[c] = min(max(raw + digital[c], 0), 255)
        return
    vm = V[h * 256:h * 256 + 256]
    hi = neuron_f[NF_V_HI, h * 256:h * 256 + 256]
    lo = neuron_f[NF_V_LO, h * 256:h * 256 + 256]
    fixed = cadc_v[base_ch:base_ch + 256]
    beyond = 0
    for c in range(256):
        m = kind[c] == CADC_MEMBRANE
        x = np.float64(vm[c])
        v[c] = x if m else fixed[c]
        beyond += m and (x > hi[c] - SATURATION_KNEE or x < lo[c] + SATURATION_KNEE)
    if beyond:
        for c in range(256):
            if kind[c] == CADC_MEMBRANE:
                v[c] = saturate(v[c], lo[c], hi[c])
    i0 = state[ST_NOISE_INDEX]
    if i0 + 256 > noise.size:
        i0 = 0  # the pool is sized for the program; reuse only as a last resort
    state[ST_NOISE_INDEX] = i0 + 256
    z = noise[i0:i0 + 256]
    sigma = cadc_sigma[base_ch:base_ch + 256]
    offsets = channel_f[0, base_ch:base_ch + 256]
    for half in range(2):
        q = 2 * h + half
        v0 = quad_f[q, QF_V0]
        slope = quad_f[q, QF_SLOPE]
        for c in range(128 * half, 128 * half + 128):
            # clamped before the bend, which is monotonic below CADC_LIN_MAX
            lin = min(max((v[c] + sigma[c] * z[c] - v0) * slope + offsets[c], -CADC_LIN_MAX),
                      CADC_LIN_MAX)
            x = max(lin - CADC_NONLINEAR_START, 0.0) / 75.0
            lin -= CADC_NONLINEAR_SCALE * x * x
            raw = np.floor(lin) + digital[c]
            if v[c] >= FLOATING:
                raw = 255.0  # an undriven input: the ramp never crosses it
            out[c] = np.int64(min(max(raw, 0.0), 255.0))


@njit(cache=True, inline="always")
def convert_row(an, h, ctype, t):
    """One CADC ramp conversion of the 256 channels of one type; results in an.conv[h, type]."""
    advance(an, h, t)
    _convert(an.V, an.S, an.neuron_f, an.channel_f, an.channel_i, an.cadc_kind, an.cadc_v,
             an.cadc_sigma, an.quad_f, an.noise, an.state, an.scratch, an.conv[h, ctype],
             an.hemi_f[h, HF_CADC_ENABLE] != 0.0, an.state[ST_IDEAL] != 0, h, ctype)


# --- PPU: the HAGEN base program as a command protocol -------------------------------------------

@njit(cache=True)
def _reset_masked(V, S, hold, hemi_s, neuron_f, neuron_i, storage, mask_slot, h, t):
    """Reset every column of hemisphere h whose mask byte (vector layout) is > 0 (signed).

    One branch-free pass over the columns (each reads its byte through the vector layout), so
    that it vectorises."""
    any_reset = 0
    base = h * 256
    for c in range(256):
        n = base + c
        byte = (np.int64(storage[mask_slot + COLUMN_QUAD[c]])
                >> ppu.VECTOR_ENTRY_SHIFT[COLUMN_ENTRY[c]]) & 0xFF
        reset = (0 < byte) & (byte < 128) & (neuron_i[NI_RESET_OK, n] != 0)
        V[n] = neuron_f[NF_V_RESET, n] if reset else V[n]
        S[n] = 0 if reset else S[n]
        hold[n] = t + neuron_i[NI_REFRACTORY, n] if reset else hold[n]
        any_reset |= reset
    if any_reset:
        hemi_s[h, HS_HOLD_ACTIVE] = 1.0


@njit(cache=True, inline="always")
def _ppu_reset(an, h, storage, t):
    """reset_neurons: reset every column whose byte in neuron_reset_mask is > 0 (signed)."""
    advance(an, h, t)
    _reset_masked(an.V, an.S, an.hold, an.hemi_s, an.neuron_f, an.neuron_i, storage,
                  an.ppu_slot0[h] + ppu.RESET_MASK_WORD, h, t)


@njit(cache=True, inline="always")
def _ppu_convert(an, h, storage, t, baseline):
    """Read the causal CADC row; store it as baseline or as the saturating difference to it."""
    base, conv = an.ppu_slot0[h], an.conv
    convert_row(an, h, 0, t)
    for q in range(64):
        w = np.int64(0)
        b_word = np.int64(storage[base + ppu.CADC_BASELINE_WORD + q])
        for e in range(4):
            raw = conv[h, 0, QUAD_ENTRY_COLUMN[q, e]]
            if baseline:
                value = raw - 128  # uint8_to_int8
            else:
                b = (b_word >> ppu.VECTOR_ENTRY_SHIFT[e]) & 0xFF
                b = b - 256 if b >= 128 else b
                value = min(max((raw - 128) - b, -128), 127)  # fxvsubbfs
            w |= (value & 0xFF) << ppu.VECTOR_ENTRY_SHIFT[e]
        dst = ppu.CADC_BASELINE_WORD if baseline else ppu.CADC_RESULT_WORD
        storage[base + dst + q] = np.uint32(w)


@njit(cache=True, inline="always")
def _ppu_action(an, h, storage, t):
    """Perform the due phase of PPU h's current command at time t."""
    ppu_s = an.ppu_s
    cmd, phase = ppu_s[h, PS_CMD], ppu_s[h, PS_PHASE]
    done = False
    if cmd == S_RESET:
        if phase == 0:
            _ppu_reset(an, h, storage, t)
            ppu_s[h, PS_NEXT] = t + ppu.RESET_DURATION
        else:
            done = True
    elif cmd == S_BASELINE:
        if phase == 0:
            _ppu_reset(an, h, storage, t)
            ppu_s[h, PS_NEXT] = t + ppu.RESET_DURATION + ppu.BASELINE_SLEEP
        elif phase == 1:
            _ppu_convert(an, h, storage, t, True)
            ppu_s[h, PS_NEXT] = t + ppu.CONVERSION_DURATION
        else:
            done = True
    elif cmd == S_READ:
        if phase == 0:
            _ppu_convert(an, h, storage, t, False)
            ppu_s[h, PS_NEXT] = t + ppu.CONVERSION_DURATION
        else:
            done = True
    else:
        if cmd == S_STOP:
            ppu_s[h, PS_RUNNING] = 0
        done = True
    if done:
        status = S_IDLE if ppu_s[h, PS_RUNNING] else cmd
        storage[an.ppu_slot0[h] + ppu.STATUS_WORD] = np.uint32(status)
        ppu_s[h, PS_CMD] = 0
        ppu_s[h, PS_NEXT] = NEVER
    else:
        ppu_s[h, PS_PHASE] = phase + 1


@njit(cache=True, inline="always")
def ppu_command(an, h, value, t):
    """The host wrote `value` to PPU h's status word at time t."""
    ppu_s = an.ppu_s
    if ppu_s[h, PS_RUNNING] == 0 or value == S_IDLE:
        return
    ppu_s[h, PS_CMD] = value
    ppu_s[h, PS_PHASE] = 0
    ppu_s[h, PS_NEXT] = t + ppu.COMMAND_LATENCY
    update_due(an)


@njit(cache=True, inline="always")
def ppu_control(an, h, value, storage, t):
    """PPUControlRegister write: inhibit_reset (bit 0) runs the program, clearing it stops it."""
    ppu_s, slot0 = an.ppu_s, an.ppu_slot0
    running = value & 1
    if running and not ppu_s[h, PS_RUNNING]:
        storage[slot0[h] + ppu.STATUS_WORD] = np.uint32(S_IDLE)  # the program boots to idle
    if not running:
        ppu_s[h, PS_CMD] = 0
        ppu_s[h, PS_NEXT] = NEVER
    ppu_s[h, PS_RUNNING] = running
    update_due(an)


@njit(cache=True, inline="always")
def ppu_sleeping(an, h):
    ppu_s = an.ppu_s
    return 1 if (ppu_s[h, PS_RUNNING] and ppu_s[h, PS_CMD] == 0) else 0


# --- MADC --------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def madc_control(an, value, t):
    """MADCControl write: bit 0 starts a recording with the current MADCConfig, bit 1 stops."""
    madc, state = an.madc, an.state
    if value & 2:
        state[ST_MADC_ACTIVE] = 0
    if value & 1 and madc[MC_ENABLE]:
        state[ST_MADC_ACTIVE] = 1
        state[ST_MADC_NEXT] = t
        state[ST_MADC_REMAINING] = madc[MC_SAMPLES]
    update_due(an)


@njit(cache=True, inline="always")
def _madc_sample(an, t):
    madc, state, madc_t, madc_v, neuron_f = an.madc, an.state, an.madc_t, an.madc_v, an.neuron_f
    n = madc[MC_NEURON]
    advance(an, n // 256, t)
    v = neuron_voltage(an.V, an.S, neuron_f, state[ST_IDEAL] != 0, n, madc[MC_SOURCE])
    if not state[ST_IDEAL]:
        v += neuron_f[NF_SIGMA, n] * next_noise(an)
    k = state[ST_MADC_COUNT]
    if k >= madc_t.size:
        state[ST_MADC_OVERFLOW] = 1
        state[ST_MADC_ACTIVE] = 0
        return
    madc_t[k] = t
    madc_v[k] = min(max(np.int64(np.floor(v + 0.5)), 0), 1023)
    state[ST_MADC_COUNT] = k + 1


# --- time-driven work ---------------------------------------------------------------------------

@njit(cache=True, inline="always")
def update_due(an):
    """The earliest time at which a PPU phase or an MADC sample is pending."""
    state, ppu_s = an.state, an.ppu_s
    due = NEVER
    for h in range(2):
        if ppu_s[h, PS_CMD] != 0 and ppu_s[h, PS_NEXT] < due:
            due = ppu_s[h, PS_NEXT]
    if state[ST_MADC_ACTIVE] and state[ST_MADC_NEXT] < due:
        due = state[ST_MADC_NEXT]
    state[ST_DUE] = due


@njit(cache=True, inline="always")
def settle(an, storage, t):
    """Perform every PPU phase and MADC sample due at or before t, in time order."""
    state, ppu_s, madc = an.state, an.ppu_s, an.madc
    while state[ST_DUE] <= t:
        h_next = -1
        t_next = NEVER
        for h in range(2):
            if ppu_s[h, PS_CMD] != 0 and ppu_s[h, PS_NEXT] < t_next:
                t_next = ppu_s[h, PS_NEXT]
                h_next = h
        if state[ST_MADC_ACTIVE] and state[ST_MADC_NEXT] <= t_next:
            tm = state[ST_MADC_NEXT]
            _madc_sample(an, tm)
            state[ST_MADC_REMAINING] -= 1
            state[ST_MADC_NEXT] = tm + madc[MC_PERIOD]
            if state[ST_MADC_REMAINING] <= 0:
                state[ST_MADC_ACTIVE] = 0
        elif h_next >= 0:
            _ppu_action(an, h_next, storage, t_next)
        update_due(an)


# The executor's polling loop settles rarely: it calls this out-of-line copy, so that the
# inlined body is compiled once (into the main loop), not twice.
settle_out_of_line = njit(cache=True)(settle.py_func)
