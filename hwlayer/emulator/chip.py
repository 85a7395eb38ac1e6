"""The emulated chip behind its FPGA: the one entry point the driver's connection uses."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from hwlayer.regmap import instructions as isa
from hwlayer.regmap import ppu_program as ppu
from hwlayer.regmap import registers as R

from . import analog as A
from . import executor as ex
from .configuration import ModelParameters
from .identity import ChipIdentity, draw_identity
from .storage import ALL_GROUPS, BEHAVIOUR, storage_map

_PAYLOAD_MASK = np.array([(1 << i.payload_bits) - 1 for i in isa.TO_FPGA], dtype=np.uint64)
_HALT = np.uint64(isa.HALT_WORD)
_U32 = np.uint64(0xFFFFFFFF)
MADC_WINDOW = 64  # FPGA cycles covered by one Systime anchor of MADC samples
MADC_MAX_SAMPLES = 1 << 22


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
    """One emulated HICANN-X v3 with its FPGA; state persists across programs.

    `chip_id` selects the fixed pattern (an int) or the ideal chip ("ideal"); `seed` seeds the
    temporal noise (None: fresh randomness), so a run with a fixed seed repeats bit for bit.
    """

    def __init__(self, chip_id: int | str = 0, seed: int | None = None) -> None:
        self.chip_id = _check_chip_id(chip_id)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.identity: ChipIdentity = draw_identity(self.chip_id)
        smap = storage_map()
        self._map = smap
        self._runs = (smap.run_start, smap.run_length, smap.run_slot, smap.run_access,
                      smap.run_behaviour, smap.run_shift, smap.run_mask, smap.run_group)
        self.storage = smap.reset_image.copy()
        chip = smap.run_start < R.FPGA_OMNIBUS_MASK
        self._chip_slots = np.unique(np.concatenate(
            [np.arange(s, s + n) for s, n in zip(smap.run_slot[chip], smap.run_length[chip])]
        ).astype(np.int64))
        self._polling_slots = np.array(
            [smap.slot(a) for a in (R.POLLING_ADDRESS, R.POLLING_TARGET, R.POLLING_MASK,
                                    R.INSTRUCTION_TIMEOUT)], dtype=np.int64)
        # the FPGA's device DNA identifies the setup: a fixed function of the chip id
        self.storage[smap.slot(R.DEVICE_DNA)] = zlib.crc32(f"hxemu-fpga-{self.chip_id}".encode())
        self.fpga = np.zeros(ex.FPGA_STATE_SIZE, dtype=np.int64)
        self.fpga[ex.JTAG_IR] = ex.IR_IDCODE
        self._counters = np.zeros(ex.C_COUNT, dtype=np.int64)
        self.params = ModelParameters(self.identity)
        self.params.refresh(self.storage, ALL_GROUPS)
        self._init_analog_state()
        self._ppu_status_addresses = np.array(
            [R.PPU_MEMORY_BASE + h * R.HEMISPHERE_STRIDE + ppu.STATUS_WORD for h in (0, 1)])
        self.last_madc = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    def _init_analog_state(self) -> None:
        p = self.params
        self.V = p.neuron_f[A.NF_V_INF].copy()  # at power-up the membranes rest
        self.S = np.zeros(512, dtype=np.int64)
        self.hold = np.zeros(512, dtype=np.int64)
        self.hemi_s = np.zeros((2, A.HS_COUNT))
        self.hemi_s[:, A.HS_DT_CACHE] = -1.0
        self.r_cache = np.zeros(512)
        self.state = np.zeros(A.ST_COUNT, dtype=np.int64)
        self.state[A.ST_IDEAL] = int(self.identity.ideal)
        self.state[A.ST_DUE] = A.NEVER
        self.ppu_s = np.zeros((2, A.PS_COUNT), dtype=np.int64)
        self.ppu_s[:, A.PS_NEXT] = A.NEVER
        self.ppu_slot0 = np.array([self._map.slot(R.PPU_MEMORY_BASE + h * R.HEMISPHERE_STRIDE)
                                   for h in (0, 1)], dtype=np.int64)
        self.conv = np.zeros((2, 2, 256), dtype=np.int64)

    @property
    def is_ideal(self) -> bool:
        return self.chip_id == "ideal"

    def read_register(self, address: int) -> int:
        """The stored word at an address, as the emulator's own models see it."""
        return int(self.storage[self._map.slot(address)])

    def _bundle(self, noise: np.ndarray, madc_t: np.ndarray, madc_v: np.ndarray) -> tuple:
        p = self.params
        values = {
            "V": self.V, "S": self.S, "hold": self.hold, "hemi_s": self.hemi_s,
            "hemi_f": p.hemi_f, "neuron_f": p.neuron_f, "neuron_i": p.neuron_i,
            "r_cache": self.r_cache, "xbar": p.xbar, "padi": p.padi, "driver_f": p.driver_f,
            "driver_i": p.driver_i, "K": p.K, "Kint": p.Kint, "Wrow": p.Wrow,
            "Wrow_int": p.Wrow_int, "labels": p.labels, "channel_f": p.channel_f,
            "channel_i": p.channel_i, "quad_f": p.quad_f, "noise": noise, "state": self.state,
            "ppu_s": self.ppu_s, "ppu_slot0": self.ppu_slot0, "madc": p.madc,
            "madc_t": madc_t, "madc_v": madc_v, "conv": self.conv, "routes": p.routes,
            "flags": p.flags,
        }
        return tuple(values[k] for k in A.BUNDLE)

    # -- program checks and sizing (vectorised prepass) ---------------------------------------

    @staticmethod
    def _check(w: np.ndarray) -> np.ndarray:
        if w.ndim != 1 or w.dtype != np.uint64:
            raise ProgramError(f"a program is a 1-d numpy uint64 array, got {w.dtype} "
                               f"with shape {w.shape}")
        headers = (w >> np.uint64(56)).astype(np.int64)
        bad = headers >= len(isa.TO_FPGA)
        if bad.any():
            i = int(np.argmax(bad))
            raise ProgramError(f"unknown instruction header {headers[i]} at index {i} "
                               f"(word 0x{int(w[i]):016x})")
        extra = (w & np.uint64((1 << 56) - 1)) & ~_PAYLOAD_MASK[headers]
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
        is_write_address = (headers == isa.TO["omnibus_address"]) & (
            (w >> np.uint64(isa.OMNIBUS_IS_READ_BIT)) & np.uint64(1) == 0)
        is_data = headers == isa.TO["omnibus_data"]
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
        return headers

    def _behaviour_of(self, addresses: np.ndarray) -> np.ndarray:
        smap = self._map
        r = np.searchsorted(smap.run_start, addresses.astype(np.uint32), side="right") - 1
        inside = (r >= 0) & (addresses < smap.run_start[np.maximum(r, 0)].astype(np.int64)
                             + smap.run_length[np.maximum(r, 0)])
        return np.where(inside, smap.run_behaviour[np.maximum(r, 0)], -1)

    def _sizes(self, w: np.ndarray, headers: np.ndarray) -> tuple[int, int, int]:
        """(spike labels, noise samples, MADC samples) the program can need at most."""
        n_spikes = int(np.clip(headers - (isa.TO["spike_pack_1"] - 1), 0, None).sum())
        addr_idx = np.flatnonzero(headers == isa.TO["omnibus_address"])
        payload = w[addr_idx]
        addresses = (payload & _U32).astype(np.int64)
        is_read = ((payload >> np.uint64(isa.OMNIBUS_IS_READ_BIT)) & np.uint64(1)) == 1
        beh = self._behaviour_of(addresses)
        data = np.where(is_read, 0, (w[np.minimum(addr_idx + 1, w.size - 1)] & _U32)
                        .astype(np.int64))
        conversions = int((is_read & (beh == BEHAVIOUR["cadc_trigger"])).sum())
        conversions += int((~is_read & np.isin(addresses, self._ppu_status_addresses)
                            & np.isin(data, [ppu.STATUS["baseline_read"], ppu.STATUS["read"]])
                            ).sum())
        madc_starts = int((~is_read & (beh == BEHAVIOUR["madc_control"]) & (data & 1 == 1))
                          .sum())
        madc = 0
        if madc_starts or self.state[A.ST_MADC_ACTIVE]:
            cfg_word = R.MADC_BASE + 2
            written = data[~is_read & (addresses == cfg_word)] & 0xFFFFFF
            limit = max([int(self.params.madc[A.MC_SAMPLES])] + [int(x) for x in written])
            madc = min(MADC_MAX_SAMPLES, limit * (madc_starts + 1))
        noise = 0 if self.is_ideal else conversions * 256 + madc
        return n_spikes, noise, madc

    # -- running --------------------------------------------------------------------------------

    def execute(self, words: np.ndarray) -> ExecutionResult:
        """Run a to-FPGA word array that ends with the halt; return the FPGA's answer."""
        w = np.asarray(words)
        headers = self._check(w)
        n_spikes, n_noise, n_madc = self._sizes(w, headers)
        responses = np.empty(w.size + 1, dtype=np.uint64)
        ev_t = np.empty(n_spikes, dtype=np.int64)
        ev_l = np.empty(n_spikes, dtype=np.int64)
        noise = self.rng.standard_normal(n_noise, dtype=np.float32)
        madc_t = np.empty(n_madc, dtype=np.int64)
        madc_v = np.empty(n_madc, dtype=np.int64)
        an = self._bundle(noise, madc_t, madc_v)
        self.state[A.ST_NOISE_INDEX] = 0
        self.state[A.ST_MADC_COUNT] = 0
        self.state[A.ST_MADC_OVERFLOW] = 0
        c = self._counters
        c[ex.C_RESPONSES] = 0
        c[ex.C_EVENTS] = 0
        c[ex.C_APPLIED] = 0
        start = int(self.fpga[ex.NOW])
        at = 0
        while True:
            code, at = ex.execute(w, at, self.storage, self._runs, self.fpga,
                                  self._map.reset_image, self._chip_slots,
                                  self._polling_slots, responses, ev_t, ev_l, c, an)
            if code != ex.NEED_CONFIG:
                break
            self.params.refresh(self.storage, int(c[ex.C_DIRTY]) & ALL_GROUPS)
            c[ex.C_DIRTY] = 0
        if code == ex.ERR_ADDRESS_WITHOUT_DATA:
            raise ProgramError(f"omnibus write address at index {at} is not followed by data")
        if code == ex.ERR_DATA_WITHOUT_ADDRESS:
            raise ProgramError(f"omnibus data at index {at} without a preceding write address")
        n_resp = int(c[ex.C_RESPONSES])
        k = int(self.state[A.ST_MADC_COUNT])
        self.last_madc = (madc_t[:k].copy(), madc_v[:k].copy())
        out = responses[:n_resp]
        if k:
            out = np.concatenate([out[:-1], madc_messages(madc_t[:k], madc_v[:k]), out[-1:]])
        return ExecutionResult(out.copy(), start, int(self.fpga[ex.NOW]),
                               ev_t[:int(c[ex.C_EVENTS])], ev_l[:int(c[ex.C_EVENTS])])


def madc_messages(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """MADC samples as from-FPGA words: a Systime anchor per 64-cycle window, then 1-packs.

    Each sample carries the 8-bit timestamp (2 t) & 0xff (the event clock ticks at twice the
    FPGA rate); with its window's anchor A the host recovers t = A + ((ts - 2A) & 0xff) / 2.
    """
    window = times // MADC_WINDOW
    new = np.ones(times.size, dtype=bool)
    new[1:] = window[1:] != window[:-1]
    anchors = (np.uint64(isa.FROM["systime"]) << np.uint64(56)) | (
        (window[new] * MADC_WINDOW).astype(np.uint64) & np.uint64((1 << isa.SYSTIME_BITS) - 1))
    sample = ((((2 * times) & 0xFF) << 16) | (values & 0x3FF)).astype(np.uint64)
    packs = (np.uint64(isa.FROM["madc_sample_pack_1"]) << np.uint64(56)) | sample
    out = np.empty(times.size + anchors.size, dtype=np.uint64)
    anchor_pos = np.flatnonzero(new) + np.arange(anchors.size)
    is_anchor = np.zeros(out.size, dtype=bool)
    is_anchor[anchor_pos] = True
    out[is_anchor] = anchors
    out[~is_anchor] = packs
    return out
