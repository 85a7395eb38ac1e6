"""The FPGA playback executor: one numba loop over the whole instruction word array.

Semantics (docs/instruction-set.md): every instruction takes one 125 MHz cycle, except
`WaitUntil(t)`, which resumes exactly when the timer reads t (at once if it has passed);
`Setup` zeroes the timer; `Barrier` returns at once
(every channel of the emulator is idle between instructions); `PollingOmnibusBlock` compares
the polled register with the executor's polling config and, if the condition cannot become
true, times out after the instruction timeout. Omnibus reads answer `omnibus_from_fpga::Data`;
a failed access (unmapped address, a read of a write-only or a write of a read-only register,
a chip access while the chip reset is asserted) answers `TimeoutNotification` with the
instruction index. Loopback ticks and the halt are echoed; spike packs are recorded with their
time and routed through the event fabric. JTAG implements IDCODE, BYPASS and the
omnibus-over-JTAG registers (chip addresses only).

Registers with a behaviour (CADC triggered reads, neuron resets, PADI events, PPU memory and
control, MADC control) act on the analog core (`analog.py`). The numba loop never decodes
register fields: a write to a register the model depends on marks its group dirty, and before
the next analog action the loop returns NEED_CONFIG so that `chip.py` refreshes the model
parameters and resumes at the same instruction.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from hwlayer.regmap import instructions as isa
from hwlayer.regmap import ppu_program as ppu
from hwlayer.regmap import registers as R
from hwlayer.regmap.layout import QUAD_ENTRY_SHIFT
from hwlayer.regmap.registers import QUAD_ENTRY_COLUMN
from hwlayer.regmap.storage import merge_word

from . import analog as A
from . import fast_path as F
from .borrow import borrow
from .storage import ACCESS_RO, ACCESS_WO, BEHAVIOUR

# fpga state vector indices
NOW = 0  # absolute FPGA cycles since power-up
TIMER_BASE = 1  # absolute cycle of the last timer Setup
RESET_ASSERTED = 2
JTAG_IR = 3
JTAG_SCALER = 4
JTAG_ADDRESS = 5
JTAG_DATA = 6
SYSTIME_SYNCED = 7
FPGA_STATE_SIZE = 8

# counters entries (persist across re-entries of one program)
C_RESPONSES, C_EVENTS, C_APPLIED, C_DIRTY, C_COUNT = range(5)

# return codes
OK = 0
ERR_DATA_WITHOUT_ADDRESS = 1
ERR_ADDRESS_WITHOUT_DATA = 2
NEED_CONFIG = 3

_H = {name: np.int64(h) for name, h in isa.TO.items()}
H_JTAG_INIT = _H["jtag_init"]
H_JTAG_SCALER = _H["jtag_scaler"]
H_JTAG_INS = _H["jtag_ins"]
H_JTAG_DATA = _H["jtag_data"]
H_SETUP = _H["timing_setup"]
H_WAIT_UNTIL = _H["timing_wait_until"]
H_SYSTIME_INIT = _H["timing_systime_init"]
H_BARRIER = _H["timing_barrier"]
H_POLLING = _H["timing_polling_omnibus_block"]
H_RESET = _H["system_reset"]
H_LOOPBACK = _H["system_loopback"]
H_OMNIBUS_ADDRESS = _H["omnibus_address"]
H_OMNIBUS_DATA = _H["omnibus_data"]
H_SPIKE_PACK_1 = _H["spike_pack_1"]

R_JTAG = np.uint64(isa.FROM["jtag_data"])
R_OMNIBUS = np.uint64(isa.FROM["omnibus_data"])
R_LOOPBACK = np.uint64(isa.FROM["loopback"])
R_TIMEOUT = np.uint64(isa.FROM["timeout_notification"])
R_SYSTIME = np.uint64(isa.FROM["systime"])

IR_IDCODE = isa.JTAG_INSTRUCTIONS["IDCODE"]
IR_BYPASS = isa.JTAG_INSTRUCTIONS["BYPASS"]
IR_OMNIBUS_ADDRESS = isa.JTAG_INSTRUCTIONS["OMNIBUS_ADDRESS"]
IR_OMNIBUS_DATA = isa.JTAG_INSTRUCTIONS["OMNIBUS_DATA"]
IR_OMNIBUS_REQUEST = isa.JTAG_INSTRUCTIONS["OMNIBUS_REQUEST"]
IDCODE = np.int64(isa.JTAG_IDCODE)
B_TIMER = BEHAVIOUR["timer"]
B_CADC = BEHAVIOUR["cadc_trigger"]
B_NEURON_RESET = BEHAVIOUR["neuron_reset"]
B_PADI = BEHAVIOUR["padi_event"]
B_PPU_MEMORY = BEHAVIOUR["ppu_memory"]
B_PPU_CONTROL = BEHAVIOUR["ppu_control"]
B_PPU_STATUS = BEHAVIOUR["ppu_status"]
B_MADC = BEHAVIOUR["madc_control"]
HEMI_SHIFT = 24  # bit of the hemisphere in addresses below the PPU subtree (0x02 / 0x03)
PADI_BOTTOM = np.int64(R.PADI_BASE[1])
FPGA_MASK = np.int64(0x8000_0000)
SYSTIME_MASK = np.int64((1 << isa.SYSTIME_BITS) - 1)


@njit(cache=True, inline="always")
def _lookup(addr, run_start, run_length):
    lo, hi = 0, run_start.size - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        if np.int64(run_start[mid]) <= addr:
            lo = mid + 1
        else:
            hi = mid - 1
    if hi < 0 or addr >= np.int64(run_start[hi]) + run_length[hi]:
        return -1
    return hi


@njit(cache=True)
def _hemisphere(addr):
    return (addr >> HEMI_SHIFT) - 2


@njit(cache=True)
def _find(addr, write, fpga, rs, rl, racc):
    """The run of an accessible address, or -1 for a failed access."""
    if fpga[RESET_ASSERTED] and addr < FPGA_MASK:
        return -1
    r = _lookup(addr, rs, rl)
    if r < 0 or racc[r] == (ACCESS_RO if write else ACCESS_WO):
        return -1
    return r


@njit(cache=True)
def _read_behaviour(an, beh, addr, slot, storage, fpga):
    """The side of a read that involves the analog core; returns a value or -1."""
    if beh == B_PPU_STATUS:
        return np.int64(A.ppu_sleeping(an, _hemisphere(addr)))
    if beh == B_CADC:
        # a triggered read converts the whole row; the buffered view keeps the result
        h, ctype, quad = _hemisphere(addr), (addr >> 18) & 1, addr & 63
        A.convert_row(an, h, ctype, fpga[NOW])
        conv = an.conv
        row_slot = slot - quad
        for q in range(64):
            w = np.int64(0)
            for e in range(4):
                w |= conv[h, ctype, QUAD_ENTRY_COLUMN[q, e]] << QUAD_ENTRY_SHIFT[e]
            storage[row_slot + q] = np.uint32(w)
    return np.int64(-1)


@njit(cache=True, inline="always")
def _write_behaviour(an, beh, addr, slot, new, storage, fpga):
    now = fpga[NOW]
    if beh == B_PPU_MEMORY:
        h = _hemisphere(addr)
        if slot == an.ppu_slot0[h] + ppu.STATUS_WORD:
            A.ppu_command(an, h, new, now)
    elif beh == B_PPU_CONTROL:
        A.ppu_control(an, _hemisphere(addr), new, storage, now)
    elif beh == B_NEURON_RESET:
        A.reset_quad(an, _hemisphere(addr), addr & 63, now)
    elif beh == B_PADI:
        A.padi_event(an, 1 if addr >= PADI_BOTTOM else 0, new, now)
    elif beh == B_MADC:
        A.madc_control(an, new, now)


@njit(cache=True)
def omnibus_read(addr, storage, runs, fpga, an):
    """(ok, value) of a host read of `addr`."""
    rs, rl, rslot, racc, rbeh, rshift, rmask = (runs.start, runs.length, runs.slot,
                                                runs.access, runs.behaviour, runs.shift,
                                                runs.mask)
    r = _find(addr, False, fpga, rs, rl, racc)
    if r < 0:
        return False, np.int64(0)
    slot = rslot[r] + addr - np.int64(rs[r])
    beh = rbeh[r]
    if beh == B_TIMER:
        return True, (fpga[NOW] - fpga[TIMER_BASE]) & 0xFFFFFFFF
    if beh != 0 and beh != B_PPU_MEMORY:
        v = _read_behaviour(an, beh, addr, slot, storage, fpga)
        if v >= 0:
            return True, v
    return True, (np.int64(storage[slot]) >> rshift[r]) & np.int64(rmask[r])


@njit(cache=True)
def _store(r, addr, value, byte_enables, storage, rs, rslot, rshift, rmask):
    """Merge a write into storage (byte enables, view shift/mask); returns (slot, new word)."""
    slot = rslot[r] + addr - np.int64(rs[r])
    new = merge_word(storage[slot], value, byte_enables, rshift[r], rmask[r])
    storage[slot] = np.uint32(new)
    return slot, new


@njit(cache=True)
def omnibus_write(addr, value, byte_enables, storage, runs, fpga, an, counters):
    """Host write of `value` to `addr` with byte enables; False on a failed access."""
    rs, rslot, rshift, rmask = runs.start, runs.slot, runs.shift, runs.mask
    r = _find(addr, True, fpga, rs, runs.length, runs.access)
    if r < 0:
        return False
    slot, new = _store(r, addr, value, byte_enables, storage, rs, rslot, rshift, rmask)
    counters[C_DIRTY] |= runs.group[r]
    if runs.behaviour[r] != 0:
        _write_behaviour(an, runs.behaviour[r], addr, slot, new, storage, fpga)
    return True


@njit(cache=True, inline="always")
def _emit(responses, n, header, payload):
    responses[n] = (header << np.uint64(56)) | np.uint64(payload)
    return n + 1


@njit(cache=True)
def _jtag_shift(data, num_bits, storage, runs, fpga, an, counters):
    """Shift `num_bits` of data into the selected JTAG register; returns (out, ok)."""
    ir = fpga[JTAG_IR]
    mask = (np.int64(1) << num_bits) - 1
    ok = True
    out = np.int64(0)
    if ir == IR_IDCODE:
        out = IDCODE & mask
    elif ir == IR_BYPASS:
        out = (data << 1) & mask
    elif ir == IR_OMNIBUS_ADDRESS:
        out = fpga[JTAG_ADDRESS] & mask
        fpga[JTAG_ADDRESS] = data & ((np.int64(1) << 33) - 1)
    elif ir == IR_OMNIBUS_DATA:
        out = fpga[JTAG_DATA] & mask
        fpga[JTAG_DATA] = data & 0xFFFFFFFF
    elif ir == IR_OMNIBUS_REQUEST:
        a = fpga[JTAG_ADDRESS]
        addr = a & 0xFFFFFFFF
        if addr >= FPGA_MASK:  # JTAG reaches the chip only, not the FPGA's registers
            ok = False
        elif (a >> 32) & 1:
            ok, v = omnibus_read(addr, storage, runs, fpga, an)
            if ok:
                fpga[JTAG_DATA] = v
        else:
            ok = omnibus_write(addr, fpga[JTAG_DATA], np.int64(0xF), storage, runs, fpga, an,
                               counters)
    return out, ok


@njit(cache=True)
def _chip_reset(storage, reset_image, chip_slots, an, counters):
    for s in chip_slots:
        storage[s] = reset_image[s]
    counters[C_DIRTY] = -1  # everything
    ppu_s, state = an.ppu_s, an.state
    for h in range(2):
        ppu_s[h, A.PS_RUNNING] = 0
        ppu_s[h, A.PS_CMD] = 0
    state[A.ST_MADC_ACTIVE] = 0
    A.update_due(an)


class Runs(NamedTuple):
    """The storage map's address runs (`hwlayer.regmap.storage`), by name."""

    start: np.ndarray
    length: np.ndarray
    slot: np.ndarray
    access: np.ndarray
    behaviour: np.ndarray
    shift: np.ndarray
    mask: np.ndarray
    group: np.ndarray  # model group bits a write dirties


class Machine(NamedTuple):
    """The FPGA and register side of one program run, by name."""

    storage: np.ndarray  # uint32 register storage slots
    runs: Runs
    fpga: np.ndarray  # int64 (FPGA_STATE_SIZE,) registers of the executor itself
    reset_image: np.ndarray  # uint32 storage after a chip reset
    chip_slots: np.ndarray  # int64 slots a chip reset restores
    polling_slots: np.ndarray  # int64 (address, target, mask, timeout) of polling blocks
    responses: np.ndarray  # uint64 FPGA-to-host words of this program
    event_time: np.ndarray  # int64 recorded spike times
    event_label: np.ndarray  # int64 recorded spike labels
    counters: np.ndarray  # int64 (C_COUNT,) progress that persists across re-entries


@njit(cache=True)
def _spikes_and_waits(words, i, fpga, due, event_time, event_label, n_ev):
    """A run of waits and spike packs with nothing due: the main loop's semantics for these two
    instructions without its per-word checks (a MAC program is mostly such runs).
    Returns (index of the first word not handled, events recorded so far)."""
    now = fpga[NOW]
    base = fpga[TIMER_BASE]
    while i < words.size and now < due:
        w = words[i]
        h = np.int64(w >> np.uint64(56))
        p = np.int64(w & np.uint64(0x00FFFFFFFFFFFFFF))
        if h == H_WAIT_UNTIL:
            if base + p > now:
                now = base + p
        elif h >= H_SPIKE_PACK_1:
            k = h - H_SPIKE_PACK_1 + 1
            for j in range(k):
                event_time[n_ev] = now
                event_label[n_ev] = (p >> (16 * (k - 1 - j))) & 0xFFFF
                n_ev += 1
            now += 1
        else:
            break
        i += 1
    fpga[NOW] = now
    return i, n_ev


@njit(cache=True)
def _plain_reads(words, i, fpga, due, storage, rs, rl, rslot, racc, rbeh, rshift, rmask,
                 responses, n_resp):
    """A run of omnibus reads of plain storage (no behaviour, or PPU memory) with nothing due:
    the main loop's semantics for them, with the last run's bounds checked before a search
    (a MAC reads its results as one block). Returns (first word not handled, responses)."""
    now = fpga[NOW]
    r = -1
    while i < words.size and now < due:
        w = words[i]
        if np.int64(w >> np.uint64(56)) != H_OMNIBUS_ADDRESS or not (w >> np.uint64(36)) & 1:
            break
        addr = np.int64(w & np.uint64(0xFFFFFFFF))
        if r < 0 or addr < np.int64(rs[r]) or addr >= np.int64(rs[r]) + rl[r]:
            r = _lookup(addr, rs, rl)
            if r < 0:
                break
        if (rbeh[r] != 0 and rbeh[r] != B_PPU_MEMORY) or racc[r] == ACCESS_WO:
            break
        v = (np.int64(storage[rslot[r] + addr - np.int64(rs[r])]) >> rshift[r]) & np.int64(
            rmask[r])
        n_resp = _emit(responses, n_resp, R_OMNIBUS, v)
        now += 1
        i += 1
    fpga[NOW] = now
    return i, n_resp


@njit(cache=True, nogil=True)
def execute(words, start, m, an, fast):
    """Run `words` from index `start` up to and including the first halt on the `Machine` m
    and the `analog.AnalogState` an.

    `fast` is the fast path's state (`fast_path.FastState`): recorded events go through
    `fast_path.flush_events`, which picks the fast or the reference event loop.

    Returns (code, index): OK at the halt, NEED_CONFIG at the instruction to resume from after
    the model parameters were refreshed, or a program error code.
    """
    # the caller holds every array for the whole call: no reference counting inside
    words, m, an, fast = borrow(words), borrow(m), borrow(an), borrow(fast)
    storage, runs, fpga, counters = m.storage, m.runs, m.fpga, m.counters
    responses, event_time, event_label = m.responses, m.event_time, m.event_label
    polling_slots = m.polling_slots
    n_resp = counters[C_RESPONSES]
    n_ev = counters[C_EVENTS]
    state = an.state
    n_applied = counters[C_APPLIED]  # recorded events already applied to the membranes
    rs, rl, rslot, racc, rbeh = runs.start, runs.length, runs.slot, runs.access, runs.behaviour
    rshift, rmask, rgrp = runs.shift, runs.mask, runs.group
    i = start
    n = words.size
    code = OK
    while i < n:
        w = words[i]
        h = np.int64(w >> np.uint64(56))
        p = np.int64(w & np.uint64(0x00FFFFFFFFFFFFFF))
        now = fpga[NOW]
        if (h == H_WAIT_UNTIL or h >= H_SPIKE_PACK_1) and now < state[A.ST_DUE] \
                and counters[C_DIRTY] == 0 and not fpga[RESET_ASSERTED]:
            i, n_ev = _spikes_and_waits(words, i, fpga, state[A.ST_DUE], event_time,
                                        event_label, n_ev)
            continue
        if h == H_OMNIBUS_ADDRESS and (p >> 36) & 1 and now < state[A.ST_DUE] \
                and counters[C_DIRTY] == 0 and not fpga[RESET_ASSERTED]:
            done, n_resp = _plain_reads(words, i, fpga, state[A.ST_DUE], storage, rs, rl,
                                        rslot, racc, rbeh, rshift, rmask, responses, n_resp)
            if done > i:
                i = done
                continue
        # events are applied lazily, in bulk, right before anything observes or changes the
        # analog state; parameters are refreshed before the model acts after a config write
        due = now >= state[A.ST_DUE]
        acts = due or h >= H_SPIKE_PACK_1 or h == H_POLLING or h == H_JTAG_DATA
        r = -1
        if h == H_OMNIBUS_ADDRESS:
            r = _lookup(p & 0xFFFFFFFF, rs, rl)
            if r >= 0 and not acts:
                # plain PPU memory reads only need what is due (settled below)
                beh = rbeh[r]
                acts = beh != 0 and beh != B_TIMER and not (beh == B_PPU_MEMORY
                                                              and (p >> 36) & 1)
        if n_applied < n_ev and (due or acts and h < H_SPIKE_PACK_1 or h == H_RESET
                                 or h == H_LOOPBACK and p == 0 or counters[C_DIRTY] != 0):
            F.flush_events(an, fast, event_time, event_label, n_applied, n_ev)
            n_applied = n_ev
        if counters[C_DIRTY] != 0 and acts:
            code = NEED_CONFIG
            break
        if due:
            A.settle(an, storage, now)
        if h == H_OMNIBUS_ADDRESS:
            addr = p & 0xFFFFFFFF
            be = (p >> 32) & 0xF
            is_read = (p >> 36) & 1
            if r >= 0 and ((fpga[RESET_ASSERTED] and addr < FPGA_MASK)
                           or racc[r] == (ACCESS_WO if is_read else ACCESS_RO)):
                r = -1  # a failed access
            if is_read:
                if r < 0:
                    n_resp = _emit(responses, n_resp, R_TIMEOUT, i)
                elif rbeh[r] == 0 or rbeh[r] == B_PPU_MEMORY:
                    slot = rslot[r] + addr - np.int64(rs[r])
                    v = (np.int64(storage[slot]) >> rshift[r]) & np.int64(rmask[r])
                    n_resp = _emit(responses, n_resp, R_OMNIBUS, v)
                else:
                    ok, v = omnibus_read(addr, storage, runs, fpga, an)
                    n_resp = _emit(responses, n_resp, R_OMNIBUS, v)
            else:
                if i + 1 >= n or np.int64(words[i + 1] >> np.uint64(56)) != H_OMNIBUS_DATA:
                    code = ERR_ADDRESS_WITHOUT_DATA
                    break
                i += 1
                fpga[NOW] += 1
                v = np.int64(words[i] & np.uint64(0xFFFFFFFF))
                if r < 0:
                    n_resp = _emit(responses, n_resp, R_TIMEOUT, i - 1)
                else:
                    slot, new = _store(r, addr, v, be, storage, rs, rslot, rshift, rmask)
                    counters[C_DIRTY] |= rgrp[r]
                    if rbeh[r] != 0:
                        _write_behaviour(an, rbeh[r], addr, slot, new, storage, fpga)
            fpga[NOW] += 1
        elif h >= H_SPIKE_PACK_1:
            k = h - H_SPIKE_PACK_1 + 1
            if not fpga[RESET_ASSERTED]:
                for j in range(k):
                    label = (p >> (16 * (k - 1 - j))) & 0xFFFF
                    event_time[n_ev] = now
                    event_label[n_ev] = label
                    n_ev += 1
            fpga[NOW] += 1
        elif h == H_WAIT_UNTIL:
            t = fpga[TIMER_BASE] + p
            if t > now:
                fpga[NOW] = t
        elif h == H_SETUP:
            fpga[TIMER_BASE] = now
            fpga[NOW] += 1
        elif h == H_LOOPBACK:
            n_resp = _emit(responses, n_resp, R_LOOPBACK, p)
            fpga[NOW] += 1
            if p == 0:
                i += 1
                break
        elif h == H_OMNIBUS_DATA:
            code = ERR_DATA_WITHOUT_ADDRESS
            break
        elif h == H_BARRIER:
            fpga[NOW] += 1
        elif h == H_POLLING:
            # block until the condition holds; time-driven work (a PPU finishing) may make it
            # hold later, anything else never will: then the instruction times out
            deadline = now + np.int64(storage[polling_slots[3]])
            while True:
                ok, v = omnibus_read(np.int64(storage[polling_slots[0]]), storage, runs, fpga,
                                     an)
                target = np.int64(storage[polling_slots[1]])
                mask = np.int64(storage[polling_slots[2]])
                if ok and (((v & mask) == target) == (p == 1)):
                    fpga[NOW] += 1
                    break
                if ok and state[A.ST_DUE] <= deadline:
                    fpga[NOW] = max(fpga[NOW], state[A.ST_DUE])
                    A.settle_out_of_line(an, storage, fpga[NOW])
                    continue
                fpga[NOW] = deadline
                n_resp = _emit(responses, n_resp, R_TIMEOUT, i)
                break
        elif h == H_RESET:
            if p and not fpga[RESET_ASSERTED]:
                _chip_reset(storage, m.reset_image, m.chip_slots, an, counters)
            fpga[RESET_ASSERTED] = p
            fpga[NOW] += 1
        elif h == H_SYSTIME_INIT:
            if p:
                fpga[SYSTIME_SYNCED] = 1
                n_resp = _emit(responses, n_resp, R_SYSTIME, now & SYSTIME_MASK)
            fpga[NOW] += 1
        elif h == H_JTAG_DATA:
            data = p & ((np.int64(1) << 33) - 1)
            num_bits = min(max((p >> 40) & 0xFF, 1), 33)
            out, ok = _jtag_shift(data, num_bits, storage, runs, fpga, an, counters)
            if not ok:
                n_resp = _emit(responses, n_resp, R_TIMEOUT, i)
            elif (p >> 48) & 1:
                n_resp = _emit(responses, n_resp, R_JTAG, out)
            fpga[NOW] += 1
        elif h == H_JTAG_INS:
            fpga[JTAG_IR] = p
            fpga[NOW] += 1
        elif h == H_JTAG_INIT:
            fpga[JTAG_IR] = IR_IDCODE
            fpga[NOW] += 1
        elif h == H_JTAG_SCALER:
            fpga[JTAG_SCALER] = p
            fpga[NOW] += 1
        i += 1
    if code != NEED_CONFIG and n_applied < n_ev:
        F.flush_events(an, fast, event_time, event_label, n_applied, n_ev)
        n_applied = n_ev
    counters[C_RESPONSES] = n_resp
    counters[C_EVENTS] = n_ev
    counters[C_APPLIED] = n_applied
    return code, i
