"""The fast path of the analog core: the same membrane equations as `analog.py`, less work.

The reference event loop (`analog.flush_events`) routes every event through the crossbar,
relaxes all 256 membranes of a hemisphere at every event and recomputes 256 decay factors
whenever the time step changes. Here:

- each spike label's deliveries (hemisphere, synapse driver, row half, pulse) are derived once
  per parameter refresh and kept in a table indexed by the label (`FastState.dl_*`); a MAC
  program uses at most 8192 labels, each thousands of times;
- only the columns an event can reach are stepped event by event: the span [lo, hi) of columns
  with a non-zero effective weight (`update_spans`, derived when the weights change, widened to
  whole blocks of 16 columns so the column loops run on full vectors; a MAC tile with 15
  outputs steps 16 columns, not 256). The other columns only relax, in closed form, once per
  flush and before anything else touches them;
- decay factors come from the analog state's table of recent time steps (`analog.decay_slot`),
  so the few distinct steps of a MAC program cost no exponentials after their first use;
- the ideal chip adds its exact integer rows over the same spans.

Inside the span the arithmetic is the reference's, operation for operation and in the same
order (float32 membranes, float32 decay factors from the same `_decay`), so the fast path agrees
with the reference except where the closed-form relaxation of an untouched column rounds
differently (far below one CADC LSB). Configurations the fast path does not cover (address
forwarding, non-HAGEN drivers) take the reference path by themselves. `tests/test_fast_path.py`
holds the fidelity test; docs/performance.md explains the choice.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from numba import njit

from hwlayer.regmap import instructions as isa

from . import analog as A

# counts entries: flushes per path (diagnostics, tests)
N_FAST, N_REFERENCE = range(2)
PATHS = ("fast", "reference")
PATH_ENV = "HXEMU_ANALOG_PATH"
LABELS = 1 << 16  # spike labels are 16 bits
MAX_DELIVERIES = 4  # per label in the table; a label reaching more drivers is routed per event
SPAN_BLOCK = 16  # spans are widened to whole blocks of this many columns


class FastState(NamedTuple):
    """The fast path's arrays, by name (built by `new_state`, kept by `chip.Chip`)."""

    fast: np.ndarray  # int64 (1,): 1 = the fast path is selected
    span: np.ndarray  # int64 (2, 2) columns [lo, hi) each hemisphere's events can reach
    counts: np.ndarray  # int64 (2,) flushes per path (N_FAST, N_REFERENCE)
    generation: np.ndarray  # int64 (1,) parameter refreshes so far (validity of the table)
    dl_stamp: np.ndarray  # int64 (LABELS,) generation a label's deliveries were derived in
    dl_n: np.ndarray  # int64 (LABELS,) its number of deliveries, -1: more than MAX_DELIVERIES
    dl_key: np.ndarray  # int64 (LABELS, MAX_DELIVERIES) (h << 8) | (row half << 7) | driver
    dl_p: np.ndarray  # float32 (LABELS, MAX_DELIVERIES) pulse (ideal chip: activation)
    keys: np.ndarray  # int64 (256,) scratch: deliveries of a label routed per event
    ps: np.ndarray  # float32 (256,) scratch: their pulses
    targets: np.ndarray  # int64 (8, 3) scratch of analog._route
    lag: np.ndarray  # int64 (2,) time the columns outside each span are at, during a flush
    u0: np.ndarray  # float32 (512,) membranes before a period (periodic tails)
    inc: np.ndarray  # float32 (512,) what one period adds (periodic tails)
    touched: np.ndarray  # int64 (2,) hemispheres a period reaches


def resolve_path(path: str | None) -> str:
    """The analog path to use: `path`, else $HXEMU_ANALOG_PATH, else "fast"."""
    source = "analog_path"
    if path is None:
        path = os.environ.get(PATH_ENV) or "fast"
        source = PATH_ENV
    if path not in PATHS:
        raise ValueError(f"{source} must be one of {PATHS}, got {path!r}")
    return path


def new_state(path: str) -> FastState:
    """Fresh fast-path state for `path` ("fast" or "reference"). The label table is allocated
    zeroed (its pages are only touched for the labels a program uses)."""
    return FastState(
        fast=np.array([int(path == "fast")], dtype=np.int64),
        span=np.zeros((2, 2), dtype=np.int64),
        counts=np.zeros(2, dtype=np.int64),
        generation=np.ones(1, dtype=np.int64),
        dl_stamp=np.zeros(LABELS, dtype=np.int64),
        dl_n=np.zeros(LABELS, dtype=np.int64),
        dl_key=np.zeros((LABELS, MAX_DELIVERIES), dtype=np.int64),
        dl_p=np.zeros((LABELS, MAX_DELIVERIES), dtype=np.float32),
        keys=np.zeros(256, dtype=np.int64), ps=np.zeros(256, dtype=np.float32),
        targets=np.zeros((8, 3), dtype=np.int64), lag=np.zeros(2, dtype=np.int64),
        u0=np.zeros(512, dtype=np.float32), inc=np.zeros(512, dtype=np.float32),
        touched=np.zeros(2, dtype=np.int64))


def update_spans(fs: FastState, K: np.ndarray, Kint: np.ndarray, ideal: bool) -> None:
    """After a parameter refresh: the column span each hemisphere's events can reach (whole
    blocks of SPAN_BLOCK columns), and a new generation of the label table."""
    w = Kint if ideal else K
    reach = (w != 0).any(axis=(1, 2))  # (2 hemispheres, 256 columns)
    for h in range(2):
        cols = np.flatnonzero(reach[h])
        if cols.size:
            lo = cols[0] // SPAN_BLOCK * SPAN_BLOCK
            hi = min(-(-(cols[-1] + 1) // SPAN_BLOCK) * SPAN_BLOCK, 256)
            fs.span[h] = (lo, hi)
        else:
            fs.span[h] = (0, 0)
    fs.generation[0] += 1


@njit(cache=True)
def _deliveries(label, xbar, padi, routes, driver_f, ideal, keys, ps, targets):
    """Every (driver, pulse) an event with `label` reaches, in the reference's order (crossbar
    output, then driver): fills keys/ps and returns their number."""
    addr = label & isa.LABEL_ADDRESS_MASK
    b = (addr >> 5) & 1
    n = 0
    for k in range(A._route(label, xbar, padi, routes, targets)):
        h, bus, bits = targets[k, 0], targets[k, 1], targets[k, 2]
        j = 0
        while bits:
            if bits & 1:
                d = bus + 4 * j
                gd = h * 128 + d
                if ideal:
                    p = A._hagen_activation(addr)
                else:
                    p = A.hagen_pulse(addr, driver_f[A.DF_ACT_OFFSET, gd],
                                      driver_f[A.DF_EXTENSION, gd], driver_f[A.DF_PULSE_SCALE, gd])
                keys[n] = (h << 8) | (b << 7) | d
                ps[n] = np.float32(p)
                n += 1
            bits >>= 1
            j += 1
    return n


@njit(cache=True)
def _derive(label, fs, xbar, padi, routes, driver_f, ideal):
    """Put a label's deliveries into the table (stamped with the current generation); a label
    with more than MAX_DELIVERIES gets -1 and is routed at every event (`_routed`)."""
    n = _deliveries(label, xbar, padi, routes, driver_f, ideal, fs.keys, fs.ps, fs.targets)
    fs.dl_stamp[label] = fs.generation[0]
    if n > MAX_DELIVERIES:
        fs.dl_n[label] = -1
        return
    for k in range(n):
        fs.dl_key[label, k] = fs.keys[k]
        fs.dl_p[label, k] = fs.ps[k]
    fs.dl_n[label] = n


@njit(cache=True, fastmath=True)
def _relax_outside(V, neuron_f, v_inf32, h, lo, hi, dt):
    """Closed-form relaxation over dt of the columns outside [lo, hi) of hemisphere h."""
    if dt <= 0:
        return
    base = h * 256
    for c in range(256):
        if c < lo or c >= hi:
            r = np.float32(A._decay(neuron_f[A.NF_LAMBDA, base + c] * dt))
            V[base + c] = v_inf32[base + c] + (V[base + c] - v_inf32[base + c]) * r


@njit(cache=True)
def _routed(an, fs, label, t):
    """An event whose label reaches more drivers than the table holds (rare: a crossbar that
    sends a label to several buses) takes the reference's per-event routing, over all 256
    columns: first the columns outside the spans catch up with their hemisphere."""
    for h in range(2):
        _relax_outside(an.V, an.neuron_f, an.v_inf32, h, fs.span[h, 0], fs.span[h, 1],
                       np.int64(an.hemi_s[h, A.HS_T]) - fs.lag[h])
    A.route_event(an.V, an.S, an.hold, an.hemi_s, an.neuron_f, an.v_inf32, an.dkey, an.dtab,
                  an.dnext, an.xbar, an.padi, an.driver_f, an.driver_i, an.routes, an.K, an.Kint,
                  an.Wrow, an.Wrow_int, an.labels, False, label, t)
    for h in range(2):
        fs.lag[h] = np.int64(an.hemi_s[h, A.HS_T])


@njit(cache=True, fastmath=True)
def _steps_analog(an, fs, ev_t, ev_l, start, end):
    """Apply events [start, end) one by one: `analog._flush_analog` over the reachable spans
    with the label table. The per-event work indexes arrays only (an array temporary or a
    call that takes arrays costs numba reference-counting calls even when borrowed); unsigned
    column indices need no wraparound check, so the column loops vectorise. fs.lag holds the
    time the columns outside the span are at."""
    V, hold, hemi_s, neuron_f, v_inf32, K = an.V, an.hold, an.hemi_s, an.neuron_f, an.v_inf32, an.K
    dkey, dtab, dnext, span, lag = an.dkey, an.dtab, an.dnext, fs.span, fs.lag
    dl_stamp, dl_n, dl_key, dl_p = fs.dl_stamp, fs.dl_n, fs.dl_key, fs.dl_p
    gen = fs.generation[0]
    V2 = V.reshape(2, 256)
    v_inf2 = v_inf32.reshape(2, 256)
    for i in range(start, end):
        t = ev_t[i]
        label = ev_l[i]
        if dl_stamp[label] != gen:
            _derive(label, fs, an.xbar, an.padi, an.routes, an.driver_f, False)
        if dl_n[label] < 0:
            _routed(an, fs, label, t)
            continue
        for k in range(dl_n[label]):
            key = dl_key[label, k]
            pf = dl_p[label, k]
            h = key >> 8
            b = (key >> 7) & 1
            d = key & 127
            lo, hi = np.uint64(span[h, 0]), np.uint64(span[h, 1])
            t0 = hemi_s[h, A.HS_T]
            dt = t - t0
            if dt > 0:
                hemi_s[h, A.HS_T] = t
                if hemi_s[h, A.HS_HOLD_ACTIVE] != 0.0:
                    _relax_outside(V, neuron_f, v_inf32, h, span[h, 0], span[h, 1],
                                   np.int64(t0) - lag[h])
                    A._advance_held(V, hold, hemi_s, neuron_f, h, t0, t)
                    lag[h] = t
                else:  # the relaxation fused into the first addition
                    s = A.decay_slot(dkey, dtab, dnext, neuron_f, h, dt)
                    for c in range(lo, hi):
                        V2[h, c] = (v_inf2[h, c] + (V2[h, c] - v_inf2[h, c]) * dtab[h, s, c]
                                    + pf * K[h, b, d, c])
                    continue
            if pf > 0.0:
                for c in range(lo, hi):
                    V2[h, c] += pf * K[h, b, d, c]


@njit(cache=True)
def _periodic_tail(ev_t, ev_l, start, end):
    """(first, period in events, period in cycles, repeats) of the longest periodic tail of
    events [start, end): from `first` on, every event repeats `period` events later with the
    same label `cycles` later. A MAC entry with num_sends > 1 sweeps the same labels num_sends
    times. `repeats` is the number of whole periods after the two that run one by one (from
    which the closed form takes what a period adds); (end, 0, 0, 0) if there are none."""
    none = (end, 0, 0, 0)
    if end - start < 6:
        return none
    label = ev_l[start]
    p = 0
    for i in range(start + 1, end):
        if ev_l[i] == label:
            p = i - start
            break
    if p == 0:
        return none
    cycles = ev_t[start + p] - ev_t[start]
    if cycles <= 0:
        return none
    first = end - p
    while first > start and ev_l[first - 1] == ev_l[first - 1 + p] and \
            ev_t[first - 1 + p] - ev_t[first - 1] == cycles:
        first -= 1
    return first, p, cycles, (end - first) // p - 2


@njit(cache=True, fastmath=True)
def _repeat_analog(an, fs, repeats, cycles):
    """Apply `repeats` more periods in closed form. The membranes are linear between resets
    (no rail acts on them; the readout saturates), so one period maps U = V - V_inf to
    r U + C, with r the decay over the period and C what its events add. C comes from the
    last period run one by one: the membranes before it (fs.u0) and now. The repeats run
    column-parallel (vectorised), in fs.u0."""
    V, neuron_f, v_inf32, hemi_s, span = an.V, an.neuron_f, an.v_inf32, an.hemi_s, fs.span
    u0, inc, touched = fs.u0, fs.inc, fs.touched
    for h in range(2):
        if not touched[h]:
            continue
        s = A.decay_slot(an.dkey, an.dtab, an.dnext, neuron_f, h, cycles)
        lo, hi = np.uint64(h * 256 + span[h, 0]), np.uint64(h * 256 + span[h, 1])
        r = an.dtab[h, s]
        rb = np.uint64(h * 256)
        for n in range(lo, hi):
            u = V[n] - v_inf32[n]
            inc[n] = u - r[n - rb] * (u0[n] - v_inf32[n])
            u0[n] = u
        for _ in range(repeats):
            for n in range(lo, hi):
                u0[n] = r[n - rb] * u0[n] + inc[n]
        for n in range(lo, hi):
            V[n] = v_inf32[n] + u0[n]
        hemi_s[h, A.HS_T] += repeats * cycles


@njit(cache=True)
def _flush_analog(an, fs, ev_t, ev_l, start, end):
    """Apply events [start, end): one by one, except that a periodic tail of at least three
    periods (a MAC entry's repeated sweeps) runs two periods one by one and the rest in closed
    form (`_repeat_analog`); the parts before and after run one by one."""
    hemi_s, lag = an.hemi_s, fs.lag
    lag[0] = np.int64(hemi_s[0, A.HS_T])
    lag[1] = np.int64(hemi_s[1, A.HS_T])
    first, p, cycles, repeats = _periodic_tail(ev_t, ev_l, start, end)
    if repeats >= 1:
        _steps_analog(an, fs, ev_t, ev_l, start, first + p)
        if hemi_s[0, A.HS_HOLD_ACTIVE] == 0.0 and hemi_s[1, A.HS_HOLD_ACTIVE] == 0.0:
            u0, touched = fs.u0, fs.touched
            t_before = hemi_s[:, A.HS_T].copy()
            u0[:] = an.V
            _steps_analog(an, fs, ev_t, ev_l, first + p, first + 2 * p)
            for h in range(2):
                touched[h] = hemi_s[h, A.HS_T] > t_before[h]
            _repeat_analog(an, fs, repeats, cycles)
            start = first + (repeats + 2) * p
        else:
            start = first + p
    _steps_analog(an, fs, ev_t, ev_l, start, end)
    for h in range(2):
        _relax_outside(an.V, an.neuron_f, an.v_inf32, h, fs.span[h, 0], fs.span[h, 1],
                       np.int64(hemi_s[h, A.HS_T]) - lag[h])


@njit(cache=True)
def _steps_ideal(an, fs, ev_t, ev_l, start, end):
    """Apply events [start, end) one by one, exactly (the ideal chip): `analog._flush_ideal`
    over the reachable spans with the label table; the hold test is made once per hemisphere
    and call where no neuron of the span is held from then on."""
    hemi_s, Kint, span = an.hemi_s, an.Kint, fs.span
    dl_stamp, dl_n, dl_key, dl_p = fs.dl_stamp, fs.dl_n, fs.dl_key, fs.dl_p
    gen = fs.generation[0]
    S2 = an.S.reshape(2, 256)
    hold2 = an.hold.reshape(2, 256)
    free0 = free1 = np.int64(0)  # from then on no neuron of the span is held
    for c in range(span[0, 0], span[0, 1]):
        free0 = max(free0, hold2[0, c])
    for c in range(span[1, 0], span[1, 1]):
        free1 = max(free1, hold2[1, c])
    for i in range(start, end):
        t = ev_t[i]
        label = ev_l[i]
        if dl_stamp[label] != gen:
            _derive(label, fs, an.xbar, an.padi, an.routes, an.driver_f, True)
        if dl_n[label] < 0:  # more deliveries than the table holds: the reference routing
            A.route_event(an.V, an.S, an.hold, hemi_s, an.neuron_f, an.v_inf32, an.dkey,
                          an.dtab, an.dnext, an.xbar, an.padi, an.driver_f, an.driver_i,
                          an.routes, an.K, Kint, an.Wrow, an.Wrow_int, an.labels, True, label, t)
            continue
        for k in range(dl_n[label]):
            key = dl_key[label, k]
            a = np.int64(dl_p[label, k])
            h = key >> 8
            b = (key >> 7) & 1
            d = key & 127
            if t > hemi_s[h, A.HS_T]:
                hemi_s[h, A.HS_T] = t
            lo, hi = np.uint64(span[h, 0]), np.uint64(span[h, 1])
            if t >= (free1 if h else free0):
                for c in range(lo, hi):
                    S2[h, c] += a * Kint[h, b, d, c]
            else:
                for c in range(lo, hi):
                    if hold2[h, c] <= t:
                        S2[h, c] += a * Kint[h, b, d, c]


@njit(cache=True)
def _flush_ideal(an, fs, ev_t, ev_l, start, end):
    """`_flush_analog` for the ideal chip: a periodic tail whose neurons are all free adds the
    exact sum of one period (from the second period run one by one) for the remaining periods
    (identical integers)."""
    hemi_s, S = an.hemi_s, an.S
    first, p, cycles, repeats = _periodic_tail(ev_t, ev_l, start, end)
    if repeats >= 1 and ev_t[first + p] >= an.hold.max():
        _steps_ideal(an, fs, ev_t, ev_l, start, first + p)
        before = S.copy()
        t_before = hemi_s[:, A.HS_T].copy()
        _steps_ideal(an, fs, ev_t, ev_l, first + p, first + 2 * p)
        for n in range(512):
            S[n] += repeats * (S[n] - before[n])
        for h in range(2):
            if hemi_s[h, A.HS_T] > t_before[h]:
                hemi_s[h, A.HS_T] += repeats * cycles
        start = first + (repeats + 2) * p
    _steps_ideal(an, fs, ev_t, ev_l, start, end)


@njit(cache=True, inline="always")
def flush_events(an, fs, ev_t, ev_l, start, end):
    """Apply the recorded events [start, end): the fast path where it applies, else the
    reference (`analog.flush_events`)."""
    if fs.fast[0] == 0 or an.flags[0] != 0:
        fs.counts[N_REFERENCE] += 1
        A.flush_events(an, ev_t, ev_l, start, end)
        return
    fs.counts[N_FAST] += 1
    if an.state[A.ST_IDEAL] != 0:
        _flush_ideal(an, fs, ev_t, ev_l, start, end)
    else:
        _flush_analog(an, fs, ev_t, ev_l, start, end)
