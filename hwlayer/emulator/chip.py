"""The emulated chip behind its FPGA: the one entry point the driver's connection uses."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from hwlayer.regmap import instructions as isa
from hwlayer.regmap import registers as R

from . import executor as ex
from .storage import storage_map

_PAYLOAD_MASK = np.array([(1 << i.payload_bits) - 1 for i in isa.TO_FPGA], dtype=np.uint64)
_HALT = np.uint64(isa.HALT_WORD)


class ProgramError(ValueError):
    """An instruction word array the FPGA cannot run (no halt, unknown header, ...)."""


@dataclass(frozen=True)
class ExecutionResult:
    """What one program run returns: response words, timing, recorded events."""

    responses: np.ndarray  # uint64 FPGA-to-host words
    start_cycle: int  # absolute FPGA cycle when the program started
    end_cycle: int  # absolute FPGA cycle after the halt
    event_times: np.ndarray  # int64 absolute cycles of the spikes delivered to the chip
    event_labels: np.ndarray  # int64 16-bit spike labels

    @property
    def cycles(self) -> int:
        """Modelled run time of the program in FPGA cycles (125 MHz)."""
        return self.end_cycle - self.start_cycle


def _check_chip_id(chip_id: int | str) -> int | str:
    if chip_id == "ideal":
        return chip_id
    if isinstance(chip_id, bool) or not isinstance(chip_id, (int, np.integer)):
        raise TypeError(f"chip_id must be a non-negative int or 'ideal', got {chip_id!r}")
    if chip_id < 0:
        raise ValueError(f"chip_id must be a non-negative int or 'ideal', got {chip_id}")
    return int(chip_id)


class Chip:
    """One emulated HICANN-X v3 with its FPGA; state persists across programs."""

    def __init__(self, chip_id: int | str = 0, seed: int | None = None) -> None:
        self.chip_id = _check_chip_id(chip_id)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        smap = storage_map()
        self._map = smap
        self._runs = (smap.run_start, smap.run_length, smap.run_slot, smap.run_access,
                      smap.run_behaviour, smap.run_shift, smap.run_mask)
        self.storage = smap.reset_image.copy()
        chip = smap.run_start < R.FPGA_OMNIBUS_MASK
        self._chip_slots = np.concatenate(
            [np.arange(s, s + n) for s, n in zip(smap.run_slot[chip], smap.run_length[chip])]
            + [np.zeros(0, dtype=np.int64)]
        ).astype(np.int64)
        self._chip_slots = np.unique(self._chip_slots)
        self._polling_slots = np.array(
            [smap.slot(a) for a in (R.POLLING_ADDRESS, R.POLLING_TARGET, R.POLLING_MASK,
                                    R.INSTRUCTION_TIMEOUT)], dtype=np.int64)
        # the FPGA's device DNA identifies the setup: a fixed function of the chip id
        dna = zlib.crc32(f"hxemu-fpga-{self.chip_id}".encode())
        self.storage[smap.slot(R.DEVICE_DNA)] = dna
        self.fpga = np.zeros(ex.FPGA_STATE_SIZE, dtype=np.int64)
        self.fpga[ex.JTAG_IR] = ex.IR_IDCODE

    @property
    def is_ideal(self) -> bool:
        return self.chip_id == "ideal"

    def read_register(self, address: int) -> int:
        """The stored word at an address, as the emulator's own models see it."""
        return int(self.storage[self._map.slot(address)])

    def execute(self, words: np.ndarray) -> ExecutionResult:
        """Run a to-FPGA word array that ends with the halt; return the FPGA's answer."""
        w = np.asarray(words)
        if w.ndim != 1 or w.dtype != np.uint64:
            raise ProgramError(f"a program is a 1-d numpy uint64 array, got {w.dtype} "
                               f"with shape {w.shape}")
        headers = w >> np.uint64(56)
        bad = headers >= len(isa.TO_FPGA)
        if bad.any():
            i = int(np.argmax(bad))
            raise ProgramError(f"unknown instruction header {int(headers[i])} at index {i} "
                               f"(word 0x{int(w[i]):016x})")
        extra = (w & np.uint64((1 << 56) - 1)) & ~_PAYLOAD_MASK[headers.astype(np.int64)]
        if extra.any():
            i = int(np.argmax(extra != 0))
            raise ProgramError(f"instruction at index {i} has bits beyond its payload "
                               f"(word 0x{int(w[i]):016x})")
        halts = np.flatnonzero(w == _HALT)
        if halts.size == 0:
            raise ProgramError("Reached end of program without halt instruction!")
        if halts[0] != w.size - 1:
            raise ProgramError(f"{w.size - 1 - int(halts[0])} instruction(s) after the halt "
                               f"at index {int(halts[0])}")
        h = headers.astype(np.int64)
        is_write_address = (h == isa.TO["omnibus_address"]) & (
            (w >> np.uint64(isa.OMNIBUS_IS_READ_BIT)) & np.uint64(1) == 0)
        is_data = h == isa.TO["omnibus_data"]
        followed = np.zeros_like(is_data)
        followed[:-1] = is_data[1:]
        if (is_write_address & ~followed).any():
            i = int(np.argmax(is_write_address & ~followed))
            raise ProgramError(f"omnibus write address at index {i} is not followed by data")
        preceded = np.zeros_like(is_data)
        preceded[1:] = is_write_address[:-1]
        if (is_data & ~preceded).any():
            i = int(np.argmax(is_data & ~preceded))
            raise ProgramError(f"omnibus data at index {i} without a preceding write address")
        n_spikes = int(np.clip(headers.astype(np.int64) - (isa.TO["spike_pack_1"] - 1), 0,
                               None).sum())
        responses = np.empty(w.size + 1, dtype=np.uint64)
        ev_t = np.empty(n_spikes, dtype=np.int64)
        ev_l = np.empty(n_spikes, dtype=np.int64)
        start = int(self.fpga[ex.NOW])
        n_resp, n_ev, err, at = ex.execute(
            w, self.storage, self._runs, self.fpga, self._map.reset_image, self._chip_slots,
            self._polling_slots, responses, ev_t, ev_l)
        if err == ex.ERR_ADDRESS_WITHOUT_DATA:
            raise ProgramError(f"omnibus write address at index {at} is not followed by data")
        if err == ex.ERR_DATA_WITHOUT_ADDRESS:
            raise ProgramError(f"omnibus data at index {at} without a preceding write address")
        return ExecutionResult(responses[:n_resp].copy(), start, int(self.fpga[ex.NOW]),
                               ev_t[:n_ev], ev_l[:n_ev])
