"""A storage-exact image of the chip's configuration, for the server's user switches.

`ConfigShadow` keeps one word per writable *address* (what the MAC compiler needs). The chip
stores one word per *storage slot*: the synapse views (`SynapseWeightQuad`, `SynapseLabelQuad`,
`SynapseCorrelationCalibQuad`) alias bits of the raw `SynapseQuad` words. To hand the chip from
one user to another exactly, the server (driver/server.py) needs the storage: `ChipImage`
merges a program's omnibus writes into backing words the way the chip does (view shift and
mask, byte enables, a chip reset restores the reset values of the chip's registers but not of
the FPGA's, writes to chip addresses fail while the reset is asserted, writes to read-only or
unmapped addresses fail). It is built from `hwlayer.regmap` alone, like the shadow.

`switch_words(target)` gives the words that turn the chip from this image into `target`: the
backing words where they differ, written at their raw addresses. Write-only triggers
(`PADIEvent`, `NeuronResetQuad`, `MADCControl`) are not configuration and are never replayed;
nor are the PPU status words (a write there is a command to the PPU program).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

from hwlayer.regmap import REGISTERS
from hwlayer.regmap import instructions as isa
from hwlayer.regmap import ppu_program as ppu
from hwlayer.regmap import registers as R

from . import instructions as ins


@cache
def _table() -> tuple[np.ndarray, ...]:
    """(slot addresses, reset words, chip-slot flags, restore flags, run starts, run lengths,
    run slots, run shifts, run masks): storage slots of the writable backed registers, and
    every writable address (views included) -> (slot, shift, mask) in runs, sorted by
    address."""
    backed = [r for r in REGISTERS.values() if r.view is None and r.access == R.RW]
    addresses, reset = [], []
    for reg in backed:
        a = reg.all_addresses()
        addresses.append(a.ravel())
        reset.append(np.tile(reg.layout.reset_words(), a.shape[0]).astype(np.uint32))
    slot_addr = np.concatenate(addresses)
    order = np.argsort(slot_addr)
    slot_addr, reset_words = slot_addr[order], np.concatenate(reset)[order]
    look_addr = [slot_addr]
    look_slot = [np.arange(slot_addr.size)]
    look_shift = [np.zeros(slot_addr.size, dtype=np.int64)]
    look_mask = [np.full(slot_addr.size, 0xFFFFFFFF, dtype=np.int64)]
    for reg in REGISTERS.values():
        if reg.view is None or reg.access != R.RW:
            continue
        idx = [np.asarray(i, dtype=np.int64) for i in reg.all_indices()]
        backing = np.asarray(reg.view.backing(*idx), dtype=np.int64).ravel()
        pos = np.searchsorted(slot_addr, backing)
        if (pos >= slot_addr.size).any() or (slot_addr[pos] != backing).any():
            raise AssertionError(f"view {reg.name} is not backed by a writable register")
        look_addr.append(reg.all_addresses().ravel())
        look_slot.append(pos)
        look_shift.append(np.full(pos.size, reg.view.shift, dtype=np.int64))
        look_mask.append(np.full(pos.size, reg.view.mask, dtype=np.int64))
    la = np.concatenate(look_addr)
    order = np.argsort(la)
    a, sl, sh, ma = [la[order]] + [np.concatenate(c)[order]
                                   for c in (look_slot, look_shift, look_mask)]
    # runs of consecutive addresses with consecutive slots and one shift/mask: the lookup
    # binary-searches a few hundred run starts instead of every address
    brk = np.ones(a.size, dtype=bool)
    brk[1:] = (np.diff(a) != 1) | (np.diff(sl) != 1) | (sh[1:] != sh[:-1]) | (ma[1:] != ma[:-1])
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.append(starts, a.size))
    look = [a[starts], lengths, sl[starts], sh[starts], ma[starts]]
    chip = slot_addr < R.FPGA_OMNIBUS_MASK
    status = (R.PPU_MEMORY_BASE + ppu.STATUS_WORD
              + np.arange(2, dtype=np.int64) * R.HEMISPHERE_STRIDE)
    restore = ~np.isin(slot_addr, status)
    return (slot_addr, reset_words, chip, restore, *look)


def writable_addresses() -> np.ndarray:
    """Every address a write can change the image through (views included), sorted."""
    t = _table()
    return np.concatenate([np.arange(a, a + n) for a, n in zip(t[4], t[5])])


class ChipImage:
    """Backing-word image of the chip's writable registers (and whether the reset is held)."""

    def __init__(self) -> None:
        t = _table()
        self._t = t
        self.addresses, self._reset = t[0], t[1]
        self.words = self._reset.copy()
        self._state = np.zeros(1, dtype=np.int64)  # [0]: chip reset asserted

    @property
    def reset_asserted(self) -> bool:
        return bool(self._state[0])

    def copy(self) -> ChipImage:
        other = ChipImage.__new__(ChipImage)
        other._t, other.addresses, other._reset = self._t, self.addresses, self._reset
        other.words = self.words.copy()
        other._state = self._state.copy()
        return other

    def update(self, program_words: np.ndarray) -> None:
        """Merge what a program (that ran) wrote, in order, as the chip stores it."""
        t = self._t
        _merge(np.asarray(program_words, dtype=np.uint64), t[4], t[5], t[6], t[7], t[8],
               self.words, self._reset, t[2], self._state)

    def differs(self, other: ChipImage) -> np.ndarray:
        """Indices of the replayable slots where `other` holds another word."""
        return np.flatnonzero((self.words != other.words) & self._t[3])

    def switch_words(self, target: ChipImage, *, everything: bool = False) -> np.ndarray:
        """Words (without the halt) that make the chip, now in this image, hold `target`.

        The reset state first (deassert, or assert: a chip reset), then the differing backing
        words in address order (`everything`: all of them, for a chip in an unknown state).
        """
        parts = []
        here = self
        if target.reset_asserted != self.reset_asserted or everything:
            parts.append(ins.encode("system_reset", int(target.reset_asserted)))
            here = self.copy()
            here.update(parts[-1])
        if everything:
            slots = np.flatnonzero(self._t[3])
        else:
            slots = here.differs(target)
        if target.reset_asserted:  # writes to the chip would fail
            slots = slots[~self._t[2][slots]]
        if slots.size:
            parts.append(ins.omnibus_write(self.addresses[slots], target.words[slots]))
        if not parts:
            return np.zeros(0, dtype=np.uint64)
        return np.concatenate(parts)


_H_ADDRESS = isa.TO["omnibus_address"]
_H_DATA = isa.TO["omnibus_data"]
_H_RESET = isa.TO["system_reset"]
_FPGA_MASK = R.FPGA_OMNIBUS_MASK


@njit(cache=True)
def _merge(w, run_start, run_length, run_slot, run_shift, run_mask, words, reset_words, chip,
           state):
    i = 0
    n = w.size
    while i < n:
        h = np.int64(w[i] >> np.uint64(56))
        p = np.int64(w[i] & np.uint64(0x00FFFFFFFFFFFFFF))
        if h == _H_RESET:
            if p != 0 and state[0] == 0:
                for s in range(words.size):
                    if chip[s]:
                        words[s] = reset_words[s]
            state[0] = 1 if p != 0 else 0
        elif (h == _H_ADDRESS and not (p >> 36) & 1 and i + 1 < n
              and np.int64(w[i + 1] >> np.uint64(56)) == _H_DATA):
            addr = p & 0xFFFFFFFF
            i += 1
            if state[0] != 0 and addr < _FPGA_MASK:
                i += 1
                continue  # the chip is in reset: a failed access
            k = np.searchsorted(run_start, addr, side="right") - 1
            if k >= 0 and addr < run_start[k] + run_length[k]:
                be = (p >> 32) & 0xF
                bytemask = np.int64(0)
                for b in range(4):
                    if (be >> b) & 1:
                        bytemask |= np.int64(0xFF) << (8 * b)
                m = (run_mask[k] & bytemask) << run_shift[k]
                value = np.int64(w[i] & np.uint64(0xFFFFFFFF))
                s = run_slot[k] + addr - run_start[k]
                old = np.int64(words[s])
                words[s] = np.uint32((old & ~m & 0xFFFFFFFF) | ((value << run_shift[k]) & m))
        i += 1
