"""The emulated chip behind its FPGA: the one entry point the driver's connection uses."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from hwlayer.host import HELPER, Scratch, host_threads
from hwlayer.regmap import instructions as isa
from hwlayer.regmap import ppu_program as ppu
from hwlayer.regmap import registers as R
from hwlayer.regmap.chip_id import check_chip_id

from . import analog as A
from . import executor as ex
from . import fast_path as F
from .configuration import ModelParameters
from .identity import ChipIdentity, draw_identity
from .storage import ALL_GROUPS, BEHAVIOUR, run_groups, storage_map

_PAYLOAD_MASK = np.array([(1 << i.payload_bits) - 1 for i in isa.TO_FPGA], dtype=np.uint64)
_HALT = np.uint64(isa.HALT_WORD)
_HALT_INT = isa.HALT_WORD
_U32 = np.uint64(0xFFFFFFFF)
MADC_WINDOW = 64  # FPGA cycles covered by one Systime anchor of MADC samples
MADC_MAX_SAMPLES = 1 << 22
NOISE_MARGIN = 4 * 256
ALONGSIDE_MIN_WORDS = 1 << 14  # smaller programs run their `alongside` job inline
SPLIT_PREPASS_WORDS = 1 << 16  # larger programs are checked in two halves at once


class NoiseStream:
    """Standard-normal samples (float32) in the generator's order, drawn ahead in a thread.

    The emulator needs about a million samples per large program; drawing the next block on
    the helper thread while the executor runs (it releases the GIL) hides their cost. The
    order of the samples, and so every result of a seeded chip, does not depend on the timing
    nor on whether a helper thread is used at all.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buffer = np.zeros(0, dtype=np.float32)
        self._ahead: Future | None = None
        self._pid = os.getpid()  # of the process that drew ahead

    def _join(self) -> None:
        if self._ahead is not None and self._pid != os.getpid():
            self._ahead = None  # drawn in the parent of this forked process: never arrives
        if self._ahead is not None:
            ahead, self._ahead = self._ahead.result(), None
            # no copy in the common case (the last program used up the buffer)
            self._buffer = (ahead if self._buffer.size == 0
                            else np.concatenate([self._buffer, ahead]))

    def take(self, n: int) -> np.ndarray:
        self._join()
        if self._buffer.size < n:
            more = self._rng.standard_normal(n - self._buffer.size, dtype=np.float32)
            self._buffer = np.concatenate([self._buffer, more])
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def draw_ahead(self, n: int) -> None:
        """Start drawing n more samples on the helper thread."""
        self._join()
        if n <= 0 or self._buffer.size >= n:
            return
        self._ahead = HELPER.submit(lambda: self._rng.standard_normal(n, dtype=np.float32))
        self._pid = os.getpid()


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


class Chip:
    """One emulated HICANN-X v3 with its FPGA; state persists across programs.

    `chip_id` selects the fixed pattern (an int) or the ideal chip ("ideal"); `seed` seeds the
    temporal noise (None: fresh randomness), so a run with a fixed seed repeats bit for bit.
    `analog_path` picks the event loop: "fast" (`fast_path.py`) or "reference" (the original
    loop of `analog.py`); None reads $HXEMU_ANALOG_PATH (default "fast").
    """

    def __init__(self, chip_id: int | str = 0, seed: int | None = None,
                 analog_path: str | None = None) -> None:
        self.chip_id = check_chip_id(chip_id)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._noise = NoiseStream(self.rng)
        self.identity: ChipIdentity = draw_identity(self.chip_id)
        smap = storage_map()
        self._map = smap
        self._runs = ex.Runs(smap.run_start, smap.run_length, smap.run_slot, smap.run_access,
                             smap.run_behaviour, smap.run_shift, smap.run_mask, run_groups())
        self.storage = smap.reset_image.copy()
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
        self.analog_path = F.resolve_path(analog_path)
        self._fast = F.new_state(self.analog_path)
        F.update_spans(self._fast, self.params.K, self.params.Kint, self.identity.ideal)
        self._init_analog_state()
        self._ppu_status_addresses = np.array(
            [R.PPU_MEMORY_BASE + h * R.HEMISPHERE_STRIDE + ppu.STATUS_WORD for h in (0, 1)])
        self.last_madc = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        # reused buffers of the results (views of them stay valid while they are held)
        self._events = Scratch(np.int64)  # recorded spikes (times, labels)
        self._responses = Scratch(np.uint64)

    def _init_analog_state(self) -> None:
        p = self.params
        self.V = p.neuron_f[A.NF_V_INF].astype(np.float32)  # at power-up the membranes rest
        self.S = np.zeros(512, dtype=np.int64)
        self.hold = np.zeros(512, dtype=np.int64)
        self.hemi_s = np.zeros((2, A.HS_COUNT))
        self.hemi_s[:, A.HS_DT_CACHE] = -1.0
        self.r_cache = np.zeros(512, dtype=np.float32)
        self.state = np.zeros(A.ST_COUNT, dtype=np.int64)
        self.state[A.ST_IDEAL] = int(self.identity.ideal)
        self.state[A.ST_DUE] = A.NEVER
        self.ppu_s = np.zeros((2, A.PS_COUNT), dtype=np.int64)
        self.ppu_s[:, A.PS_NEXT] = A.NEVER
        self.ppu_slot0 = np.array([self._map.slot(R.PPU_MEMORY_BASE + h * R.HEMISPHERE_STRIDE)
                                   for h in (0, 1)], dtype=np.int64)
        self.conv = np.zeros((2, 2, 256), dtype=np.int64)
        self._scratch = np.zeros(256)
        self.decay_key = np.full((2, A.DECAY_SLOTS), -1.0)  # the decay table (analog.decay_slot)
        self.decay_table = np.zeros((2, A.DECAY_SLOTS, 256), dtype=np.float32)
        self._decay_next = np.zeros(2, dtype=np.int64)

    @property
    def is_ideal(self) -> bool:
        return self.chip_id == "ideal"

    def read_register(self, address: int) -> int:
        """The stored word at an address, as the emulator's own models see it."""
        return int(self.storage[self._map.slot(address)])

    def _analog_state(self, noise: np.ndarray, madc_t: np.ndarray,
                      madc_v: np.ndarray) -> A.AnalogState:
        p = self.params
        return A.AnalogState(**{
            "V": self.V, "S": self.S, "hold": self.hold, "hemi_s": self.hemi_s,
            "hemi_f": p.hemi_f, "neuron_f": p.neuron_f, "neuron_i": p.neuron_i,
            "r_cache": self.r_cache, "xbar": p.xbar, "padi": p.padi, "driver_f": p.driver_f,
            "driver_i": p.driver_i, "K": p.K, "Kint": p.Kint, "Wrow": p.Wrow,
            "Wrow_int": p.Wrow_int, "labels": p.labels, "channel_f": p.channel_f,
            "channel_i": p.channel_i, "quad_f": p.quad_f, "noise": noise, "state": self.state,
            "ppu_s": self.ppu_s, "ppu_slot0": self.ppu_slot0, "madc": p.madc,
            "madc_t": madc_t, "madc_v": madc_v, "conv": self.conv, "routes": p.routes,
            "flags": p.flags, "v_inf32": p.v_inf32, "cadc_kind": p.cadc_kind,
            "cadc_v": p.cadc_v, "cadc_sigma": p.cadc_sigma, "scratch": self._scratch,
            "dkey": self.decay_key, "dtab": self.decay_table, "dnext": self._decay_next,
        })

    # -- program checks and sizing (one numba pass) -------------------------------------------

    def _check_and_size(self, w: np.ndarray) -> tuple[int, int, int]:
        """Refuse malformed programs; return (spike labels, noise samples, MADC samples)."""
        if w.ndim != 1 or w.dtype != np.uint64:
            raise ProgramError(f"a program is a 1-d numpy uint64 array, got {w.dtype} "
                               f"with shape {w.shape}")
        smap = self._map

        def scan(start: int, stop: int) -> tuple:
            return _prepass(w, start, stop, _PAYLOAD_MASK, smap.run_start, smap.run_length,
                            smap.run_behaviour, self._ppu_status_addresses)

        if w.size >= SPLIT_PREPASS_WORDS and host_threads() > 1:  # two halves at once
            mid = w.size // 2
            upper = HELPER.submit(lambda: scan(mid, w.size))
            first, second = scan(0, mid), upper.result()
        else:
            first, second = scan(0, w.size), None
        err, at, n_spikes, conversions, madc_starts, madc_written, halt = first
        if second is not None and not err and halt < 0:  # the first half ran into the second
            err, at, n_spikes2, conversions2, madc_starts2, written2, halt = second
            n_spikes += n_spikes2
            conversions += conversions2
            madc_starts += madc_starts2
            madc_written = max(madc_written, written2)
        if not err and halt < 0:
            err, at = 3, w.size
        elif not err and halt != w.size - 1:
            err, at = 4, halt
        if err:
            raise ProgramError(_PREPASS_ERRORS[err].format(
                at=at, header=int(w[at] >> np.uint64(56)) if at < w.size else 0,
                word=int(w[at]) if at < w.size else 0, after=w.size - 1 - at))
        madc = 0
        if madc_starts or self.state[A.ST_MADC_ACTIVE]:
            limit = max(int(self.params.madc[A.MC_SAMPLES]), madc_written)
            madc = min(MADC_MAX_SAMPLES, limit * (madc_starts + 1))
        # conversions through JTAG or polling are not counted: a margin, and never less than
        # one conversion's worth (the pool is reused only if even that runs out)
        noise = 0 if self.is_ideal else conversions * 256 + madc + NOISE_MARGIN
        return n_spikes, noise, madc

    # -- running --------------------------------------------------------------------------------

    def execute(self, words: np.ndarray, *, max_madc_samples: int | None = None,
                alongside: Callable[[], Any] | None = None) -> ExecutionResult:
        """Run a to-FPGA word array that ends with the halt; return the FPGA's answer.

        `max_madc_samples`: refuse (before running) a program whose MADC recording may hold
        more samples (the bound its memory is sized by). `alongside`: host work that needs
        only the words (the driver's `ChipImage` update), run once the program passed the
        checks, on the helper thread while the executor runs (`host_threads`), done (and its
        exception raised) before this returns.

        The result's arrays are views of buffers the next run reuses unless they are still
        referenced, so they stay valid as long as they are held."""
        w = np.asarray(words)
        n_spikes, n_noise, n_madc = self._check_and_size(w)
        if max_madc_samples is not None and n_madc > max_madc_samples:
            raise ProgramError(f"the program may record up to {n_madc} MADC samples, more "
                               f"than the {max_madc_samples} allowed")
        responses = self._responses.get((w.size + 1,))
        ev_t, ev_l = self._events.get((2, n_spikes))
        threads = host_threads()
        job = None
        if alongside is not None:
            if threads > 1 and w.size >= ALONGSIDE_MIN_WORDS:
                job = HELPER.submit(alongside)
            else:
                job = _Done(alongside)
        noise = self._noise.take(n_noise)
        if threads > 1:
            self._noise.draw_ahead(n_noise)  # for the next program, while this one runs
        madc_t = np.empty(n_madc, dtype=np.int64)
        madc_v = np.empty(n_madc, dtype=np.int64)
        an = self._analog_state(noise, madc_t, madc_v)
        self.state[A.ST_NOISE_INDEX] = 0
        self.state[A.ST_MADC_COUNT] = 0
        self.state[A.ST_MADC_OVERFLOW] = 0
        c = self._counters
        c[ex.C_RESPONSES] = 0
        c[ex.C_EVENTS] = 0
        c[ex.C_APPLIED] = 0
        machine = ex.Machine(
            storage=self.storage, runs=self._runs, fpga=self.fpga,
            reset_image=self._map.reset_image, chip_slots=self._map.chip_slots,
            polling_slots=self._polling_slots, responses=responses, event_time=ev_t,
            event_label=ev_l, counters=c)
        start = int(self.fpga[ex.NOW])
        at = 0
        while True:
            code, at = ex.execute(w, at, machine, an, self._fast)
            if code != ex.NEED_CONFIG:
                break
            self.params.refresh(self.storage, int(c[ex.C_DIRTY]) & ALL_GROUPS)
            c[ex.C_DIRTY] = 0
            self.hemi_s[:, A.HS_DT_CACHE] = -1.0  # decay factors follow the new parameters
            self.decay_key[:] = -1.0
            F.update_spans(self._fast, self.params.K, self.params.Kint, self.identity.ideal)
        if job is not None:
            job.result()  # its exception, if any, is the caller's
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
        n_events = int(c[ex.C_EVENTS])
        return ExecutionResult(out, start, int(self.fpga[ex.NOW]), ev_t[:n_events],
                               ev_l[:n_events])


class _Done:
    """A job run on the calling thread, after the executor (`HXEMU_HOST_THREADS=1`, or a
    program too small to be worth a thread hop)."""

    def __init__(self, job: Callable[[], Any]) -> None:
        self._job = job

    def result(self) -> Any:
        return self._job()


_PREPASS_ERRORS = {
    1: "unknown instruction header {header} at index {at} (word 0x{word:016x})",
    2: "instruction at index {at} has bits beyond its payload (word 0x{word:016x})",
    3: "Reached end of program without halt instruction!",
    4: "{after} instruction(s) after the halt at index {at}",
    5: "omnibus write address at index {at} is not followed by data",
    6: "omnibus data at index {at} without a preceding write address",
}
_H_ADDRESS = isa.TO["omnibus_address"]
_H_DATA = isa.TO["omnibus_data"]
_H_PACK_1 = isa.TO["spike_pack_1"]
_H_HALT = isa.HALT_WORD >> 56
_HEADER_BITS = np.uint64(0xFF << 56)
_B_CADC = BEHAVIOUR["cadc_trigger"]
_B_MADC = BEHAVIOUR["madc_control"]
_MADC_SAMPLES_WORD = R.MADC_BASE + 2
_CONVERTING = (ppu.STATUS["baseline_read"], ppu.STATUS["read"])


@njit(cache=True, nogil=True)
def _prepass(w, start, stop, payload_mask, run_start, run_length, run_behaviour,
             status_addresses):
    """One pass over words start .. stop - 1 of a program (up to a halt): the first error
    (code, index) and what they will need, and the index of the halt (-1: none)."""
    n = w.size
    n_spikes = 0
    conversions = 0
    madc_starts = 0
    madc_written = 0
    halt = -1
    r = -1
    for i in range(start, stop):
        word = w[i]
        h = np.int64(word >> np.uint64(56))
        if h >= payload_mask.size:
            return 1, i, 0, 0, 0, 0, -1
        if word & ~(payload_mask[h] | _HEADER_BITS):
            return 2, i, 0, 0, 0, 0, -1
        if h < _H_ADDRESS:
            if h == _H_HALT and word == np.uint64(_HALT_INT):
                halt = i
                break
        elif h >= _H_PACK_1:
            n_spikes += h - _H_PACK_1 + 1
        elif h == _H_DATA:
            if i == 0 or np.int64(w[i - 1] >> np.uint64(56)) != _H_ADDRESS or (
                    (w[i - 1] >> np.uint64(36)) & np.uint64(1)):
                return 6, i, 0, 0, 0, 0, -1
        elif h == _H_ADDRESS:
            addr = np.int64(w[i] & np.uint64(0xFFFFFFFF))
            is_read = (w[i] >> np.uint64(36)) & np.uint64(1)
            if not is_read and (i + 1 >= n or np.int64(w[i + 1] >> np.uint64(56)) != _H_DATA):
                return 5, i, 0, 0, 0, 0, -1
            value = 0 if is_read else np.int64(w[i + 1] & np.uint64(0xFFFFFFFF))
            if r < 0 or addr < np.int64(run_start[r]) or addr >= np.int64(run_start[r]) \
                    + run_length[r]:  # runs do not overlap: consecutive accesses share one
                r = np.searchsorted(run_start, np.uint32(addr), side="right") - 1
            beh = -1
            if r >= 0 and addr < np.int64(run_start[r]) + run_length[r]:
                beh = run_behaviour[r]
            if is_read and beh == _B_CADC:
                conversions += 1
            elif not is_read:
                if (addr == status_addresses[0] or addr == status_addresses[1]) and (
                        value == _CONVERTING[0] or value == _CONVERTING[1]):
                    conversions += 1
                elif beh == _B_MADC and value & 1:
                    madc_starts += 1
                elif addr == _MADC_SAMPLES_WORD:
                    madc_written = max(madc_written, value & 0xFFFFFF)
    return 0, 0, n_spikes, conversions, madc_starts, madc_written, halt


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
