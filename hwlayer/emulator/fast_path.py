"""The fast path of the analog core: the same membrane equations as `analog.py`, less work.

The reference event loop (`analog.flush_events`) relaxes all 256 membranes of a hemisphere at
every event and recomputes 256 decay factors whenever the time step changes. Here:

- only the columns an event can reach are stepped event by event: the span [lo, hi) of columns
  with a non-zero effective weight (`update_spans`, derived when the weights change; a MAC tile
  with 15 outputs steps 15 columns, not 256). The other columns only relax, in closed form,
  once per flush and before anything else touches them;
- decay factors are kept per (hemisphere, time step) in a small table, so the few distinct
  steps of a MAC program (event spacing, reset to first event) cost no exponentials after
  their first use;
- the ideal chip adds its exact integer rows over the same spans.

Inside the span the arithmetic is the reference's, operation for operation (float32 membranes,
float32 decay factors from the same `_decay`), so the fast path agrees with the reference
except where the closed-form relaxation of an untouched column rounds differently (far below
one CADC LSB). Configurations the fast path does not cover (address forwarding, non-HAGEN
drivers) take the reference path by themselves. `tests/test_fast_path.py` holds the fidelity
test; docs/performance.md explains the choice.

All state is plain arrays in one tuple (`FAST`); `chip.py` builds it.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

from . import analog as A

FAST = ("mode", "span", "dkey", "dtab", "dnext", "counts")
# mode entries
M_FAST = 0
# counts entries: flushes per path (diagnostics, tests)
N_FAST, N_REFERENCE = range(2)
DECAY_SLOTS = 8  # cached time steps per hemisphere
PATHS = ("fast", "reference")
PATH_ENV = "HXEMU_ANALOG_PATH"


def resolve_path(path: str | None) -> str:
    """The analog path to use: `path`, else $HXEMU_ANALOG_PATH, else "fast"."""
    source = "analog_path"
    if path is None:
        path = os.environ.get(PATH_ENV) or "fast"
        source = PATH_ENV
    if path not in PATHS:
        raise ValueError(f"{source} must be one of {PATHS}, got {path!r}")
    return path


def new_state(path: str) -> tuple:
    """Fresh fast-path state (the `FAST` tuple) for `path` ("fast" or "reference")."""
    mode = np.zeros(1, dtype=np.int64)
    mode[M_FAST] = int(path == "fast")
    span = np.zeros((2, 2), dtype=np.int64)
    dkey = np.full((2, DECAY_SLOTS), -1.0)
    dtab = np.zeros((2, DECAY_SLOTS, 256), dtype=np.float32)
    dnext = np.zeros(2, dtype=np.int64)
    counts = np.zeros(2, dtype=np.int64)
    return mode, span, dkey, dtab, dnext, counts


def update_spans(fast: tuple, K: np.ndarray, Kint: np.ndarray, ideal: bool) -> None:
    """After a parameter refresh: the column span each hemisphere's events can reach, and a
    cleared decay table (the leak may have changed)."""
    w = Kint if ideal else K
    reach = (w != 0).any(axis=(1, 2))  # (2 hemispheres, 256 columns)
    span = fast[1]
    for h in range(2):
        cols = np.flatnonzero(reach[h])
        span[h] = (cols[0], cols[-1] + 1) if cols.size else (0, 0)
    fast[2][:] = -1.0


@njit(cache=True)
def _route_events(ev_l, start, end, xbar, padi, routes):
    """Every event's targets (analog._route for a whole flush, in one call): row i - start
    holds the count, then (accepting-driver bits << 3) | (hemisphere << 2) | bus per target."""
    out = np.zeros((end - start, 9), dtype=np.int64)
    targets = np.empty((8, 3), dtype=np.int64)
    for i in range(start, end):
        n = A._route(ev_l[i], xbar, padi, routes, targets)
        out[i - start, 0] = n
        for k in range(n):
            out[i - start, k + 1] = (targets[k, 2] << 3) | (targets[k, 0] << 2) | targets[k, 1]
    return out


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


@njit(cache=True, fastmath=True)
def _flush_analog(V, hold, hemi_s, neuron_f, v_inf32, xbar, padi, driver_f, routes, K, span,
                  dkey, dtab, dnext, ev_t, ev_l, start, end):
    """`analog._flush_analog` over the reachable spans; see the module docstring.

    The per-event path calls no function that takes arrays and creates no array views: in
    numba each of those costs reference counting that outweighs a short column loop. So the
    routing is done for the whole flush first, and the decay-table lookup is written out.
    Unsigned column indices need no wraparound check, so the column loops vectorise.
    """
    route = _route_events(ev_l, start, end, xbar, padi, routes)
    lag = np.empty(2, dtype=np.int64)  # time the columns outside the span are at
    for h in range(2):
        lag[h] = np.int64(hemi_s[h, A.HS_T])
    V2 = V.reshape(2, 256)
    v_inf2 = v_inf32.reshape(2, 256)
    for i in range(start, end):
        label = ev_l[i]
        t = ev_t[i]
        addr = label & 0x3F
        b = (addr >> 5) & 1
        for k in range(1, route[i - start, 0] + 1):
            h = (route[i - start, k] >> 2) & 1
            bus = route[i - start, k] & 3
            bits = route[i - start, k] >> 3
            lo, hi = np.uint64(span[h, 0]), np.uint64(span[h, 1])
            relax = False
            t0 = hemi_s[h, A.HS_T]
            dt = t - t0
            s = 0
            if dt > 0:
                hemi_s[h, A.HS_T] = t
                if hemi_s[h, A.HS_HOLD_ACTIVE] != 0.0:
                    _relax_outside(V, neuron_f, v_inf32, h, span[h, 0], span[h, 1],
                                   np.int64(t0) - lag[h])
                    A._advance_held(V, hold, hemi_s, neuron_f, h, t0, t)
                    lag[h] = t
                else:
                    relax = True
                    s = -1
                    for slot in range(DECAY_SLOTS):  # decay table lookup
                        if dkey[h, slot] == dt:
                            s = slot
                            break
                    if s < 0:
                        s = dnext[h]
                        dnext[h] = (s + 1) % DECAY_SLOTS
                        dkey[h, s] = dt
                        for c in range(256):
                            dtab[h, s, c] = A._decay(neuron_f[A.NF_LAMBDA, h * 256 + c] * dt)
            j = 0
            while bits:
                while (bits & 0xFF) == 0:  # skip to the next accepting driver
                    bits >>= 8
                    j += 8
                if bits & 1:
                    gd = h * 128 + bus + 4 * j
                    p = A.hagen_pulse(addr, driver_f[A.DF_ACT_OFFSET, gd],
                                      driver_f[A.DF_EXTENSION, gd], driver_f[A.DF_PULSE_SCALE, gd])
                    d = bus + 4 * j
                    pf = np.float32(p)
                    if relax:
                        for c in range(lo, hi):
                            V2[h, c] = (v_inf2[h, c] + (V2[h, c] - v_inf2[h, c])
                                        * dtab[h, s, c] + pf * K[h, b, d, c])
                        relax = False
                    elif p > 0.0:
                        for c in range(lo, hi):
                            V2[h, c] += pf * K[h, b, d, c]
                bits >>= 1
                j += 1
            if relax:
                for c in range(lo, hi):
                    V2[h, c] = v_inf2[h, c] + (V2[h, c] - v_inf2[h, c]) * dtab[h, s, c]
    for h in range(2):
        _relax_outside(V, neuron_f, v_inf32, h, span[h, 0], span[h, 1],
                       np.int64(hemi_s[h, A.HS_T]) - lag[h])


@njit(cache=True)
def _flush_ideal(S, hold, hemi_s, xbar, padi, routes, Kint, span, ev_t, ev_l, start, end):
    """`analog._flush_ideal` over the reachable spans (exact integers: identical results);
    the hold test is made once per hemisphere and flush where no neuron is held."""
    route = _route_events(ev_l, start, end, xbar, padi, routes)
    S2 = S.reshape(2, 256)
    hold2 = hold.reshape(2, 256)
    free_from = np.zeros(2, dtype=np.int64)  # from then on no neuron of the span is held
    for h in range(2):
        for c in range(span[h, 0], span[h, 1]):
            free_from[h] = max(free_from[h], hold2[h, c])
    for i in range(start, end):
        t = ev_t[i]
        addr = ev_l[i] & 0x3F
        b = (addr >> 5) & 1
        a = A._hagen_activation(addr)
        for k in range(1, route[i - start, 0] + 1):
            h = (route[i - start, k] >> 2) & 1
            bus = route[i - start, k] & 3
            bits = route[i - start, k] >> 3
            if t > hemi_s[h, A.HS_T]:
                hemi_s[h, A.HS_T] = t
            lo, hi = np.uint64(span[h, 0]), np.uint64(span[h, 1])
            j = 0
            while bits:
                if bits & 1:
                    d = bus + 4 * j
                    if t >= free_from[h]:
                        for c in range(lo, hi):
                            S2[h, c] += a * Kint[h, b, d, c]
                    else:
                        for c in range(lo, hi):
                            if hold2[h, c] <= t:
                                S2[h, c] += a * Kint[h, b, d, c]
                bits >>= 1
                j += 1


@njit(cache=True, inline="always")
def flush_events(an, fast, ev_t, ev_l, start, end):
    """Apply the recorded events [start, end): the fast path where it applies, else the
    reference (`analog.flush_events`)."""
    mode, span, dkey, dtab, dnext, counts = fast
    if mode[M_FAST] == 0 or an.flags[0] != 0:
        counts[N_REFERENCE] += 1
        A.flush_events(an, ev_t, ev_l, start, end)
        return
    counts[N_FAST] += 1
    if an.state[A.ST_IDEAL] != 0:
        _flush_ideal(an.S, an.hold, an.hemi_s, an.xbar, an.padi, an.routes, an.Kint, span,
                     ev_t, ev_l, start, end)
    else:
        _flush_analog(an.V, an.hold, an.hemi_s, an.neuron_f, an.v_inf32, an.xbar, an.padi,
                      an.driver_f, an.routes, an.K, span, dkey, dtab, dnext, ev_t, ev_l,
                      start, end)
