"""Where the register map's words are stored: one slot per backing word, and how a write
merges into it.

Every address of every register in `REGISTERS` maps to a storage slot; a view (e.g.
`SynapseWeightQuad`) maps to its backing word's slot plus a shift and mask, so a write through
one view changes what every other view of the same word reads. Consecutive addresses with
consecutive slots of one register are merged into runs, which numba code binary-searches.

This one table is shared by the emulated chip (its register storage) and the driver's
`ChipImage` (what the host knows the chip holds): both number the slots the same way and
merge writes with the same `merge_word`, which is why the image can equal the chip's storage
(docs/state-model.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numba import njit

from . import registers as R
from .registers import REGISTERS

# access codes
ACCESS = {R.RW: 0, R.RO: 1, R.WO: 2}
ACCESS_RW, ACCESS_RO, ACCESS_WO = 0, 1, 2
# behaviour codes: what else happens on an access besides the storage effect
BEHAVIOURS = ("none", "timer", "cadc_trigger", "neuron_reset", "padi_event", "ppu_memory",
              "ppu_control", "ppu_status", "madc_control")
BEHAVIOUR = {name: i for i, name in enumerate(BEHAVIOURS)}
REGISTER_NAMES = tuple(REGISTERS)  # run_register indexes this


@dataclass(frozen=True)
class StorageMap:
    """The address table (sorted runs) and the reset image of the storage slots."""

    run_start: np.ndarray  # uint32 first address of each run
    run_length: np.ndarray  # int64
    run_slot: np.ndarray  # int64 storage slot of the run's first address
    run_access: np.ndarray  # int64 ACCESS code
    run_behaviour: np.ndarray  # int64 BEHAVIOUR code
    run_shift: np.ndarray  # int64 view shift
    run_mask: np.ndarray  # uint32 view mask
    run_register: np.ndarray  # int64 index into REGISTER_NAMES
    reset_image: np.ndarray  # uint32 storage contents after reset
    chip_slots: np.ndarray  # int64 slots of chip registers (a chip reset restores them)
    host_owned: np.ndarray  # bool per slot: only host writes change it (the chip never does)
    slot_of: dict  # register name -> (count, n_words) slots

    def slot(self, address: int) -> int:
        """Storage slot of an address; KeyError if unmapped."""
        i = int(np.searchsorted(self.run_start, address, side="right")) - 1
        if i < 0 or address >= int(self.run_start[i]) + int(self.run_length[i]):
            raise KeyError(f"address 0x{address:08x} is not mapped")
        return int(self.run_slot[i]) + address - int(self.run_start[i])

    def runs_of(self, addresses: np.ndarray) -> np.ndarray:
        """Run index of each address (-1 where unmapped), vectorised."""
        a = np.asarray(addresses, dtype=np.int64)
        r = np.searchsorted(self.run_start.astype(np.int64), a, side="right") - 1
        ok = (r >= 0) & (a < self.run_start[np.maximum(r, 0)].astype(np.int64)
                         + self.run_length[np.maximum(r, 0)])
        return np.where(ok, r, -1)

    def run_table(self) -> tuple[np.ndarray, ...]:
        """(start, length, slot, access, shift, mask) for `merge_program`."""
        return (self.run_start, self.run_length, self.run_slot, self.run_access,
                self.run_shift, self.run_mask.astype(np.int64))


@cache
def storage_map() -> StorageMap:
    """Build (once) the storage map of all registers."""
    addr, slot, acc, beh, shift, mask, reg_id = [], [], [], [], [], [], []
    reset = []
    slot_of = {}
    n_slots = 0
    index = {name: i for i, name in enumerate(REGISTER_NAMES)}

    def columns(reg, a, s, sh, ma) -> None:
        addr.append(a)
        slot.append(s)
        acc.append(np.full(a.size, ACCESS[reg.access]))
        beh.append(np.full(a.size, BEHAVIOUR[reg.behaviour or "none"]))
        shift.append(np.full(a.size, sh, dtype=np.int64))
        mask.append(np.full(a.size, ma, dtype=np.int64))
        reg_id.append(np.full(a.size, index[reg.name], dtype=np.int64))

    for reg in REGISTERS.values():
        if reg.view is not None:
            continue
        a = reg.all_addresses()
        # slots follow address order, so contiguous addresses get contiguous slots
        s = np.empty(a.size, dtype=np.int64)
        s[np.argsort(a.ravel(), kind="stable")] = np.arange(a.size)
        image = np.empty(a.size, dtype=np.uint32)
        image[s] = np.tile(reg.layout.reset_words(), a.shape[0])
        reset.append(image)
        s = (s + n_slots).reshape(a.shape)
        n_slots += a.size
        slot_of[reg.name] = s
        columns(reg, a.ravel(), s.ravel(), 0, 0xFFFFFFFF)
    all_addr = np.concatenate(addr)
    order = np.argsort(all_addr)
    sorted_addr, sorted_slot = all_addr[order], np.concatenate(slot)[order]
    for reg in REGISTERS.values():
        if reg.view is None:
            continue
        backing = np.asarray(reg.view.backing(*reg.all_indices()), dtype=np.int64).ravel()
        pos = np.searchsorted(sorted_addr, backing)
        if (pos >= sorted_addr.size).any() or (sorted_addr[pos] != backing).any():
            raise AssertionError(f"view {reg.name} has unbacked words")
        columns(reg, reg.all_addresses().ravel(), sorted_slot[pos], reg.view.shift,
                reg.view.mask)
        slot_of[reg.name] = sorted_slot[pos].reshape(-1, reg.layout.n_words)
    order = np.argsort(np.concatenate(addr), kind="stable")
    a, s, ac, be, sh, ma, ri = (np.concatenate(c)[order]
                                for c in (addr, slot, acc, beh, shift, mask, reg_id))
    if (np.diff(a) == 0).any():
        dup = a[1:][np.diff(a) == 0][0]
        raise AssertionError(f"address 0x{dup:08x} is mapped twice")
    # a new run starts where the address or slot does not continue, or the register changes
    brk = np.ones(a.size, dtype=bool)
    brk[1:] = (np.diff(a) != 1) | (np.diff(s) != 1) | (ri[1:] != ri[:-1])
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.append(starts, a.size))
    chip = (a < R.FPGA_OMNIBUS_MASK) & (sh == 0) & (ma == 0xFFFFFFFF)
    n_slots = int(s.max()) + 1
    host_owned = np.zeros(n_slots, dtype=bool)
    plain = (ac == ACCESS_RW) & np.isin(be, [BEHAVIOUR["none"], BEHAVIOUR["ppu_control"]])
    host_owned[s[plain]] = True
    return StorageMap(
        run_start=a[starts].astype(np.uint32),
        run_length=lengths.astype(np.int64),
        run_slot=s[starts].astype(np.int64),
        run_access=ac[starts].astype(np.int64),
        run_behaviour=be[starts].astype(np.int64),
        run_shift=sh[starts].astype(np.int64),
        run_mask=ma[starts].astype(np.uint32),
        run_register=ri[starts].astype(np.int64),
        reset_image=np.concatenate(reset).astype(np.uint32),
        chip_slots=np.unique(s[chip]).astype(np.int64),
        host_owned=host_owned,
        slot_of=slot_of,
    )


@njit(cache=True, inline="always")
def merge_word(old, value, byte_enables, shift, mask):
    """The word a slot holds after a write of `value` through a run with `shift`/`mask`:
    only the enabled bytes (bit b of `byte_enables` = byte b) of the view's bits change."""
    bytemask = np.int64(0)
    for b in range(4):
        if (byte_enables >> b) & 1:
            bytemask |= np.int64(0xFF) << (8 * b)
    m = (np.int64(mask) & bytemask) << shift
    return (np.int64(old) & ~m & 0xFFFFFFFF) | ((np.int64(value) << shift) & m)
