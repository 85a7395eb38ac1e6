"""The FPGA playback executor: one numba loop over the whole instruction word array.

Semantics (spec/driver-stack.md §1): every instruction takes one 125 MHz cycle, except
`WaitUntil(t)`, which resumes exactly when the timer reads t (at once if it has passed);
`Setup` zeroes the timer; `Barrier` returns at once
(every channel of the emulator is idle between instructions); `PollingOmnibusBlock` compares
the polled register with the executor's polling config and, if the condition cannot become
true, times out after the instruction timeout. Omnibus reads answer `omnibus_from_fpga::Data`;
a failed access (unmapped address, a read of a write-only or a write of a read-only register,
a chip access while the chip reset is asserted) answers `TimeoutNotification` with the
instruction index. Loopback ticks and the halt are echoed; spike packs are recorded with their
time for the event fabric. JTAG implements IDCODE, BYPASS and the omnibus-over-JTAG registers
(chip addresses only).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hwlayer.regmap import instructions as isa

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

# abort codes (program errors found while executing)
OK = 0
ERR_DATA_WITHOUT_ADDRESS = 1
ERR_ADDRESS_WITHOUT_DATA = 2

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
def omnibus_read(addr, storage, runs, fpga):
    """(ok, value) of a host read of `addr`."""
    run_start, run_length, run_slot, run_access, run_behaviour, run_shift, run_mask = runs
    if fpga[RESET_ASSERTED] and addr < FPGA_MASK:
        return False, np.int64(0)
    r = _lookup(addr, run_start, run_length)
    if r < 0 or run_access[r] == ACCESS_WO:
        return False, np.int64(0)
    if run_behaviour[r] == B_TIMER:
        return True, (fpga[NOW] - fpga[TIMER_BASE]) & 0xFFFFFFFF
    slot = run_slot[r] + addr - np.int64(run_start[r])
    return True, (np.int64(storage[slot]) >> run_shift[r]) & np.int64(run_mask[r])


@njit(cache=True)
def omnibus_write(addr, value, byte_enables, storage, runs, fpga):
    """Host write of `value` to `addr` with byte enables; False on a failed access."""
    run_start, run_length, run_slot, run_access, run_behaviour, run_shift, run_mask = runs
    if fpga[RESET_ASSERTED] and addr < FPGA_MASK:
        return False
    r = _lookup(addr, run_start, run_length)
    if r < 0 or run_access[r] == ACCESS_RO:
        return False
    slot = run_slot[r] + addr - np.int64(run_start[r])
    bytemask = np.int64(0)
    for b in range(4):
        if (byte_enables >> b) & 1:
            bytemask |= np.int64(0xFF) << (8 * b)
    m = (np.int64(run_mask[r]) & bytemask) << run_shift[r]
    old = np.int64(storage[slot])
    storage[slot] = np.uint32((old & ~m & 0xFFFFFFFF) | ((value << run_shift[r]) & m))
    return True


@njit(cache=True, inline="always")
def _emit(responses, n, header, payload):
    responses[n] = (header << np.uint64(56)) | np.uint64(payload)
    return n + 1


@njit(cache=True)
def _jtag_shift(data, num_bits, storage, runs, fpga):
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
            ok, v = omnibus_read(addr, storage, runs, fpga)
            if ok:
                fpga[JTAG_DATA] = v
        else:
            ok = omnibus_write(addr, fpga[JTAG_DATA], np.int64(0xF), storage, runs, fpga)
    return out, ok


@njit(cache=True)
def execute(words, storage, runs, fpga, reset_image, chip_slots, polling_slots,
            responses, event_time, event_label):
    """Run `words` up to and including the first halt (the caller checked there is one).

    Returns (n_responses, n_events, error_code, error_index).
    """
    n_resp = 0
    n_ev = 0
    i = 0
    n = words.size
    while i < n:
        w = words[i]
        h = np.int64(w >> np.uint64(56))
        p = np.int64(w & np.uint64(0x00FFFFFFFFFFFFFF))
        if h == H_OMNIBUS_ADDRESS:
            addr = p & 0xFFFFFFFF
            be = (p >> 32) & 0xF
            if (p >> 36) & 1:
                ok, v = omnibus_read(addr, storage, runs, fpga)
                if ok:
                    n_resp = _emit(responses, n_resp, R_OMNIBUS, v)
                else:
                    n_resp = _emit(responses, n_resp, R_TIMEOUT, i)
            else:
                if i + 1 >= n or np.int64(words[i + 1] >> np.uint64(56)) != H_OMNIBUS_DATA:
                    return n_resp, n_ev, ERR_ADDRESS_WITHOUT_DATA, i
                i += 1
                fpga[NOW] += 1
                v = np.int64(words[i] & np.uint64(0xFFFFFFFF))
                if not omnibus_write(addr, v, be, storage, runs, fpga):
                    n_resp = _emit(responses, n_resp, R_TIMEOUT, i - 1)
            fpga[NOW] += 1
        elif h >= H_SPIKE_PACK_1:
            k = h - H_SPIKE_PACK_1 + 1
            if not fpga[RESET_ASSERTED]:
                for j in range(k):
                    event_time[n_ev] = fpga[NOW]
                    event_label[n_ev] = (p >> (16 * (k - 1 - j))) & 0xFFFF
                    n_ev += 1
            fpga[NOW] += 1
        elif h == H_WAIT_UNTIL:
            t = fpga[TIMER_BASE] + p
            if t > fpga[NOW]:
                fpga[NOW] = t
        elif h == H_SETUP:
            fpga[TIMER_BASE] = fpga[NOW]
            fpga[NOW] += 1
        elif h == H_LOOPBACK:
            n_resp = _emit(responses, n_resp, R_LOOPBACK, p)
            fpga[NOW] += 1
            if p == 0:
                return n_resp, n_ev, OK, i
        elif h == H_OMNIBUS_DATA:
            return n_resp, n_ev, ERR_DATA_WITHOUT_ADDRESS, i
        elif h == H_BARRIER:
            fpga[NOW] += 1
        elif h == H_POLLING:
            ok, v = omnibus_read(np.int64(storage[polling_slots[0]]), storage, runs, fpga)
            target = np.int64(storage[polling_slots[1]])
            mask = np.int64(storage[polling_slots[2]])
            met = ok and (((v & mask) == target) == (p == 1))
            if met:
                fpga[NOW] += 1
            else:
                fpga[NOW] += np.int64(storage[polling_slots[3]])
                n_resp = _emit(responses, n_resp, R_TIMEOUT, i)
        elif h == H_RESET:
            if p and not fpga[RESET_ASSERTED]:
                for s in chip_slots:
                    storage[s] = reset_image[s]
            fpga[RESET_ASSERTED] = p
            fpga[NOW] += 1
        elif h == H_SYSTIME_INIT:
            if p:
                fpga[SYSTIME_SYNCED] = 1
                n_resp = _emit(responses, n_resp, R_SYSTIME, fpga[NOW] & SYSTIME_MASK)
            fpga[NOW] += 1
        elif h == H_JTAG_DATA:
            data = p & ((np.int64(1) << 33) - 1)
            num_bits = min(max((p >> 40) & 0xFF, 1), 33)
            out, ok = _jtag_shift(data, num_bits, storage, runs, fpga)
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
    return n_resp, n_ev, OK, i
