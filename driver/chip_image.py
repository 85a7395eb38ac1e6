"""What the host knows the chip holds: the one model of the chip's configuration on the host.

`ChipImage` keeps one word per storage slot of the register map (`hwlayer.regmap.storage`,
the numbering the emulated chip's own storage uses) and merges every program a connection
runs into it with the chip's rules: views shift and mask into their backing word (a write
through `SynapseWeightQuad` changes what `SynapseQuad` and `SynapseLabelQuad` read), byte
enables, a chip reset restores the reset values of the chip's registers but not of the FPGA's,
writes to chip addresses fail while the reset is asserted, writes to read-only or unmapped
addresses fail. Every write path (containers and their views, cocolists, raw and bulk words,
calibration, the MAC) ends in a program run by a connection, so the image sees them all
(omnibus-over-JTAG writes excepted). The relation to the chip: after every program, the image
equals the chip's storage in every slot only the host writes (docs/state-model.md).

Users: the MAC compiler reads fields through `get`/`read` to write read-modify-write and
differentially, and to refuse a chip that is not in a HAGEN configuration; the chip server
(driver/server.py) keeps one image per session and hands the chip over with `switch_words`.
Write-only triggers (`PADIEvent`, `NeuronResetQuad`, `MADCControl`), read-only registers and
the PPU status words (a write there is a command to the PPU program) are never replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from numba import njit

from hwlayer.regmap import instructions as isa
from hwlayer.regmap import ppu_program as ppu
from hwlayer.regmap import registers as R
from hwlayer.regmap.storage import ACCESS_RO, ACCESS_RW, merge_word, storage_map

from . import instructions as ins


@cache
def _slots() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw address of each slot, chip-slot flags, replayable flags)."""
    smap = storage_map()
    n = smap.reset_image.size
    address = np.zeros(n, dtype=np.int64)
    replay = np.zeros(n, dtype=bool)
    raw = (smap.run_shift == 0) & (smap.run_mask == 0xFFFFFFFF)
    for start, length, slot, access in zip(smap.run_start[raw], smap.run_length[raw],
                                           smap.run_slot[raw], smap.run_access[raw]):
        address[slot:slot + length] = np.arange(int(start), int(start) + length)
        replay[slot:slot + length] = access == ACCESS_RW
    chip = np.zeros(n, dtype=bool)
    chip[smap.chip_slots] = True
    status = R.PPU_MEMORY_BASE + ppu.STATUS_WORD + np.arange(2) * R.HEMISPHERE_STRIDE
    replay[[smap.slot(int(a)) for a in status]] = False
    return address, chip, replay


def writable_addresses() -> np.ndarray:
    """Every address a write can change the image through (views included), sorted."""
    smap = storage_map()
    rw = smap.run_access != ACCESS_RO
    return np.concatenate([np.arange(int(a), int(a) + n)
                           for a, n in zip(smap.run_start[rw], smap.run_length[rw])])


class ChipImage:
    """Storage-slot image of what has been written to the chip (and whether the reset is held)."""

    def __init__(self) -> None:
        smap = storage_map()
        self._map = smap
        self.words = smap.reset_image.copy()
        self._state = np.zeros(1, dtype=np.int64)  # [0]: chip reset asserted
        self._derived: dict[Any, Any] = {}

    @property
    def addresses(self) -> np.ndarray:
        """The raw (backing) address of each slot."""
        return _slots()[0]

    @property
    def reset_asserted(self) -> bool:
        return bool(self._state[0])

    def copy(self) -> ChipImage:
        other = ChipImage.__new__(ChipImage)
        other._map = self._map
        other.words = self.words.copy()
        other._state = self._state.copy()
        other._derived = {}
        return other

    def update(self, program_words: np.ndarray) -> None:
        """Merge what a program (that ran) wrote, in order, as the chip stores it."""
        _merge(np.asarray(program_words, dtype=np.uint64), *self._map.run_table(), self.words,
               self._map.reset_image, _slots()[1], self._state)

    def derived(self, key: Any, compute: Callable[[ChipImage], Any], slots: np.ndarray) -> Any:
        """`compute(self)`, which reads only the storage `slots`; remembered while the words
        there stay the same (e.g. the MAC's configuration check, once per change)."""
        words = self.words[slots]
        held = self._derived.get(key)
        if held is None or not np.array_equal(held[0], words):
            held = self._derived[key] = (words, compute(self))
        return held[1]

    def get(self, addresses) -> np.ndarray:
        """The words at `addresses` as read through their register or view (KeyError for an
        address that is not writable)."""
        a = np.asarray(addresses, dtype=np.int64)
        flat = a.ravel()
        r = self._map.runs_of(flat)
        bad = (r < 0) | (self._map.run_access[np.maximum(r, 0)] == ACCESS_RO)
        if bad.any():
            raise KeyError(f"address 0x{int(flat[bad][0]):08x} is not a writable register")
        slot = self._map.run_slot[r] + flat - self._map.run_start[r].astype(np.int64)
        value = (self.words[slot].astype(np.int64) >> self._map.run_shift[r]) \
            & self._map.run_mask[r].astype(np.int64)
        return value.astype(np.uint32).reshape(a.shape)

    def read(self, coord, container_type):
        """The register container at `coord` as the host knows it."""
        return container_type.decode(self.get(container_type.addresses(coord)))

    def differs(self, other: ChipImage) -> np.ndarray:
        """Indices of the replayable slots where `other` holds another word."""
        return np.flatnonzero((self.words != other.words) & _slots()[2])

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
        address, chip, replay = _slots()
        slots = np.flatnonzero(replay) if everything else here.differs(target)
        if target.reset_asserted:  # writes to the chip would fail
            slots = slots[~chip[slots]]
        slots = slots[np.argsort(address[slots], kind="stable")]
        if slots.size:
            parts.append(ins.omnibus_write(address[slots], target.words[slots]))
        if not parts:
            return np.zeros(0, dtype=np.uint64)
        return np.concatenate(parts)


_H_ADDRESS = isa.TO["omnibus_address"]
_H_DATA = isa.TO["omnibus_data"]
_H_RESET = isa.TO["system_reset"]
_FPGA_MASK = R.FPGA_OMNIBUS_MASK


@njit(cache=True, nogil=True)
def _merge(w, run_start, run_length, run_slot, run_access, run_shift, run_mask, words,
           reset_words, chip, state):
    """The storage effect of the executor's omnibus writes and chip resets (executor.py)."""
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
            k = np.searchsorted(run_start, np.uint32(addr), side="right") - 1
            if (k >= 0 and addr < np.int64(run_start[k]) + run_length[k]
                    and run_access[k] != ACCESS_RO):
                s = run_slot[k] + addr - np.int64(run_start[k])
                words[s] = np.uint32(merge_word(words[s], np.int64(w[i] & np.uint64(0xFFFFFFFF)),
                                                (p >> 32) & 0xF, run_shift[k], run_mask[k]))
        i += 1
