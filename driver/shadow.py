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
from numba import njit

from hwlayer.regmap import REGISTERS
from hwlayer.regmap import instructions as isa
from hwlayer.regmap.registers import RO


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
        _merge_writes(np.asarray(program_words, dtype=np.uint64), self.addresses, self.words,
                      self._reset)


_H_ADDRESS = isa.TO["omnibus_address"]
_H_DATA = isa.TO["omnibus_data"]
_H_RESET = isa.TO["system_reset"]


@njit(cache=True)
def _merge_writes(w, addresses, words, reset_words):
    for i in range(w.size):
        h = np.int64(w[i] >> np.uint64(56))
        if h == _H_RESET and (w[i] & np.uint64(1)):
            words[:] = reset_words
        elif (h == _H_ADDRESS and not (w[i] >> np.uint64(36)) & np.uint64(1)
              and i + 1 < w.size and np.int64(w[i + 1] >> np.uint64(56)) == _H_DATA):
            addr = np.int64(w[i] & np.uint64(0xFFFFFFFF))
            p = np.searchsorted(addresses, addr)
            if p < addresses.size and addresses[p] == addr:
                be = np.int64((w[i] >> np.uint64(32)) & np.uint64(0xF))
                mask = np.int64(0)
                for b in range(4):
                    if (be >> b) & 1:
                        mask |= np.int64(0xFF) << (8 * b)
                value = np.int64(w[i + 1] & np.uint64(0xFFFFFFFF))
                words[p] = np.uint32((np.int64(words[p]) & ~mask & 0xFFFFFFFF) | (value & mask))
