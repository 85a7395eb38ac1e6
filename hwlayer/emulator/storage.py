"""Omnibus register storage derived from the register map.

Every address of every register in `hwlayer.regmap.REGISTERS` gets a storage slot (views get
their backing word's slot plus a shift/mask). Consecutive addresses with consecutive slots and
equal behaviour are merged into runs, which the numba executor binary-searches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from hwlayer.regmap import REGISTERS
from hwlayer.regmap import registers as R

# access codes
ACCESS = {R.RW: 0, R.RO: 1, R.WO: 2}
ACCESS_RW, ACCESS_RO, ACCESS_WO = 0, 1, 2
# behaviour codes: what else happens on an access besides the storage effect
BEHAVIOURS = ("none", "timer", "cadc_trigger", "neuron_reset", "padi_event", "ppu_memory",
              "ppu_control", "ppu_status", "madc_control")
BEHAVIOUR = {name: i for i, name in enumerate(BEHAVIOURS)}

# model groups: a write to a register of a group makes the analog model re-derive what
# depends on it before its next action (configuration.py)
G_SYNAPSE, G_ROUTING, G_NEURON, G_CAPMEM, G_CADC, G_MADC = (1 << i for i in range(6))
ALL_GROUPS = G_SYNAPSE | G_ROUTING | G_NEURON | G_CAPMEM | G_CADC | G_MADC
GROUP_OF_REGISTER = {
    "SynapseQuad": G_SYNAPSE, "SynapseWeightQuad": G_SYNAPSE, "SynapseLabelQuad": G_SYNAPSE,
    "SynapseCorrelationCalibQuad": G_SYNAPSE, "ColumnCurrentQuad": G_SYNAPSE,
    "SynapseDriverConfig": G_ROUTING, "CommonPADIBusConfig": G_ROUTING,
    "CommonSTPConfig": G_ROUTING, "CrossbarNode": G_ROUTING,
    "NeuronConfig": G_NEURON, "NeuronBackendConfig": G_NEURON,
    "CommonNeuronBackendConfig": G_NEURON,
    "CapMemCell": G_CAPMEM, "CapMemBlockConfig": G_CAPMEM,
    "CADCConfig": G_CADC, "CADCChannelConfig": G_CADC, "ColumnCorrelationQuad": G_CADC,
    "CADCDebugLineConfig": G_CADC,
    "MADCConfig": G_MADC,
}


@dataclass(frozen=True)
class StorageMap:
    """The emulator's address table (sorted runs) and the reset image of its storage."""

    run_start: np.ndarray  # uint32 first address of each run
    run_length: np.ndarray  # int64
    run_slot: np.ndarray  # int64 storage slot of the run's first address
    run_access: np.ndarray  # int64 ACCESS code
    run_behaviour: np.ndarray  # int64 BEHAVIOUR code
    run_shift: np.ndarray  # int64 view shift
    run_mask: np.ndarray  # uint32 view mask
    run_group: np.ndarray  # int64 model group bits a write dirties
    reset_image: np.ndarray  # uint32 storage contents after reset
    slot_of: dict  # register name -> (count, n_words) slots, for the models

    def slot(self, address: int) -> int:
        """Storage slot of an address (for tests and models); KeyError if unmapped."""
        i = int(np.searchsorted(self.run_start, address, side="right")) - 1
        if i < 0 or address >= int(self.run_start[i]) + int(self.run_length[i]):
            raise KeyError(f"address 0x{address:08x} is not mapped")
        return int(self.run_slot[i]) + address - int(self.run_start[i])


@cache
def storage_map() -> StorageMap:
    """Build (once) the storage map of all registers."""
    addr, slot, acc, beh, shift, mask, grp = [], [], [], [], [], [], []
    reset = []
    slot_of = {}
    n_slots = 0
    backed = [r for r in REGISTERS.values() if r.view is None]
    for reg in backed:
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
        addr.append(a.ravel())
        slot.append(s.ravel())
        acc.append(np.full(a.size, ACCESS[reg.access]))
        beh.append(np.full(a.size, BEHAVIOUR[reg.behaviour or "none"]))
        shift.append(np.zeros(a.size, dtype=np.int64))
        mask.append(np.full(a.size, 0xFFFFFFFF, dtype=np.int64))
        grp.append(np.full(a.size, GROUP_OF_REGISTER.get(reg.name, 0), dtype=np.int64))
    all_addr = np.concatenate(addr)
    all_slot = np.concatenate(slot)
    order = np.argsort(all_addr)
    sorted_addr, sorted_slot = all_addr[order], all_slot[order]
    for reg in REGISTERS.values():
        if reg.view is None:
            continue
        idx = reg.all_indices()
        a = reg.all_addresses().ravel()
        backing = np.asarray(reg.view.backing(*idx), dtype=np.int64).ravel()
        pos = np.searchsorted(sorted_addr, backing)
        if (pos >= sorted_addr.size).any() or (sorted_addr[pos] != backing).any():
            raise AssertionError(f"view {reg.name} has unbacked words")
        addr.append(a)
        slot.append(sorted_slot[pos])
        acc.append(np.full(a.size, ACCESS[reg.access]))
        beh.append(np.full(a.size, BEHAVIOUR[reg.behaviour or "none"]))
        shift.append(np.full(a.size, reg.view.shift, dtype=np.int64))
        mask.append(np.full(a.size, reg.view.mask, dtype=np.int64))
        grp.append(np.full(a.size, GROUP_OF_REGISTER.get(reg.name, 0), dtype=np.int64))
        slot_of[reg.name] = sorted_slot[pos].reshape(-1, reg.layout.n_words)
    addr_all = np.concatenate(addr)
    order = np.argsort(addr_all, kind="stable")
    cols = [np.concatenate(c)[order] for c in (addr, slot, acc, beh, shift, mask, grp)]
    a, s, ac, be, sh, ma, gr = cols
    if (np.diff(a) == 0).any():
        dup = a[1:][np.diff(a) == 0][0]
        raise AssertionError(f"address 0x{dup:08x} is mapped twice")
    # a new run starts where the address or slot does not continue, or the behaviour changes
    brk = np.ones(a.size, dtype=bool)
    brk[1:] = (
        (np.diff(a) != 1) | (np.diff(s) != 1) | (ac[1:] != ac[:-1]) | (be[1:] != be[:-1])
        | (sh[1:] != sh[:-1]) | (ma[1:] != ma[:-1]) | (gr[1:] != gr[:-1])
    )
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.append(starts, a.size))
    return StorageMap(
        run_start=a[starts].astype(np.uint32),
        run_length=lengths.astype(np.int64),
        run_slot=s[starts].astype(np.int64),
        run_access=ac[starts].astype(np.int64),
        run_behaviour=be[starts].astype(np.int64),
        run_shift=sh[starts].astype(np.int64),
        run_mask=ma[starts].astype(np.uint32),
        run_group=gr[starts].astype(np.int64),
        reset_image=np.concatenate(reset).astype(np.uint32),
        slot_of=slot_of,
    )
