"""The driver's shadow of the chip configuration: every omnibus word a connection wrote.

Like stadls' `convert_to_chip`, it merges the writes of every program run on a connection
(byte enables respected, a chip reset restores the reset values) into an address -> word map
over the register map's writable addresses. The MAC compiler reads it to write the fields it
owns read-modify-write, so calibrated fields such as `hagen_dac_offset` survive every MAC.
Views are shadowed per address: a write through the weight view is not seen at the raw
synapse address (the MAC writes synapses only through the views).
"""

from __future__ import annotations

import numpy as np

from hwlayer.regmap import REGISTERS
from hwlayer.regmap import instructions as isa
from hwlayer.regmap.registers import RO

_U32 = np.uint64(0xFFFFFFFF)


def _writable_image() -> tuple[np.ndarray, np.ndarray]:
    addresses, words = [], []
    for reg in REGISTERS.values():
        if reg.access == RO:
            continue
        a = reg.all_addresses()
        addresses.append(a.ravel())
        words.append(np.tile(reg.layout.reset_words(), a.shape[0]).astype(np.uint32))
    a = np.concatenate(addresses)
    order = np.argsort(a)
    return a[order], np.concatenate(words)[order]


class ConfigShadow:
    """Address -> word image of what has been written to the chip through one connection."""

    def __init__(self) -> None:
        self.addresses, self._reset = _writable_image()
        self.words = self._reset.copy()

    def reset(self) -> None:
        self.words[:] = self._reset

    def _positions(self, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(self.addresses, addresses)
        pos = np.minimum(pos, self.addresses.size - 1)
        return pos, self.addresses[pos] == addresses

    def get(self, addresses) -> np.ndarray:
        """The shadowed words at `addresses` (KeyError for an address that is not writable)."""
        a = np.asarray(addresses, dtype=np.int64)
        pos, found = self._positions(a.ravel())
        if not found.all():
            bad = int(a.ravel()[~found][0])
            raise KeyError(f"address 0x{bad:08x} is not a writable register")
        return self.words[pos].reshape(a.shape)

    def read(self, coord, container_type):
        """The register container at `coord` as the shadow knows it."""
        return container_type.decode(self.get(container_type.addresses(coord)))

    def update(self, program_words: np.ndarray) -> None:
        """Merge the omnibus writes of a program (in order) into the shadow."""
        w = np.asarray(program_words, dtype=np.uint64)
        headers = w >> np.uint64(56)
        resets = np.flatnonzero((headers == isa.TO["system_reset"]) & ((w & np.uint64(1)) == 1))
        if resets.size:
            self.reset()
            w, headers = w[resets[-1]:], headers[resets[-1]:]
        is_addr = (headers == isa.TO["omnibus_address"]) & (
            ((w >> np.uint64(isa.OMNIBUS_IS_READ_BIT)) & np.uint64(1)) == 0)
        idx = np.flatnonzero(is_addr[:-1] & (headers[1:] == isa.TO["omnibus_data"]))
        if idx.size == 0:
            return
        addresses = (w[idx] & _U32).astype(np.int64)
        values = (w[idx + 1] & _U32).astype(np.uint32)
        enables = ((w[idx] >> np.uint64(isa.OMNIBUS_BYTE_ENABLES_SHIFT)) & np.uint64(0xF))
        pos, found = self._positions(addresses)
        pos, values, enables = pos[found], values[found], enables[found]
        if (enables == 0xF).all():
            # last write per address wins
            last = pos.size - 1 - np.unique(pos[::-1], return_index=True)[1]
            self.words[pos[last]] = values[last]
            return
        for p, v, be in zip(pos.tolist(), values.tolist(), enables.tolist()):
            mask = sum(0xFF << (8 * b) for b in range(4) if be >> b & 1)
            self.words[p] = (int(self.words[p]) & ~mask & 0xFFFFFFFF) | (v & mask)
