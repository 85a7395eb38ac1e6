"""The MAC compiler (grenade `compute::MAC`): a weight matrix and a batch of activations become
one instruction program; its PPU results become int8 outputs.

Tiling (docs/instruction-set.md): inputs in chunks of 128 (synapse drivers), outputs in chunks
of 256 (neurons); tiles alternate between the hemispheres, and a top/bottom pair runs at once.
Per pair the compiler writes only the fields a multiplication owns, through the register
map's layouts, read-modify-write and differentially against the connection's `ChipImage`
(docs/state-model.md): crossbar nodes and PADI SPL1 enables, synapse weights and labels,
driver row modes / receiver / compare mask, column current switches, the PPU reset mask. It
refuses a chip the image says is not in a HAGEN configuration (`ChipNotConfiguredError`).
Per batch entry it schedules grenade's sequence: PPU baseline_read, PPU reset_neurons, the
events (sweeps in descending driver order, repeated num_sends times,
`wait_between_events` apart, hemispheres paired and aligned to the read), PPU read, and the
read-out of both result vectors. Partial sums of input chunks are added on the host with int8
saturation.

Optionally (`MAC.run(..., madc_neuron=n)`) the MADC records neuron n's membrane during the whole
program, as grenade's MAC does for hxtorch's `madc_recording_neuron_id`; the samples are in
`MAC.last_madc`.
"""

from __future__ import annotations

import threading
import weakref
from functools import cache

import numpy as np
from numba import njit

from hwlayer.host import HELPER, Scratch, host_threads
from hwlayer.regmap import REGISTERS
from hwlayer.regmap import instructions as isa
from hwlayer.regmap import ppu_program as ppu
from hwlayer.regmap import registers as R
from hwlayer.regmap.storage import storage_map

from . import instructions as ins
from .builder import PlaybackProgramBuilder
from .chip_image import ChipImage
from .containers import MADCConfig, MADCControl
from .coordinates import MADCConfigOnDLS, MADCControlOnDLS

WEIGHT_MAX = 63
ACTIVATION_MAX = 31
WAIT_LIMIT = 1 << 20  # FPGA cycles between events: the timing instruction's wait is 20 bits
ROWS = 128  # inputs per tile (synapse drivers of a hemisphere)
COLUMNS = 256  # outputs per tile (neurons of a hemisphere)
PPU_COMMAND_CYCLES = 6  # grenade: per PPU command, for both PPUs (status read + write)
WAIT_BEFORE_REALTIME = 125
WAIT_AFTER_REALTIME = 125
HEMISPHERE_LABEL_BIT = 13
H_WAIT = np.uint64(isa.TO["timing_wait_until"])
H_PACK_1 = isa.TO["spike_pack_1"]
READ_WAIT = ppu.HOST_WAIT["read"]
VECTOR_WORDS = ppu.VECTOR_WORDS
H_SETUP = np.uint64(isa.TO["timing_setup"])
NEURONS = 512  # AtomicNeuronOnDLS: 256 * hemisphere + column
MADC_SAMPLE_PERIOD = 12  # FPGA cycles: the MADC's fastest rate (about 10.4 MHz)
MADC_MAX_SAMPLES = (1 << 24) - 1  # MADCConfig.number_of_samples is 24 bits wide
TIMER_MAX = (1 << isa.TO_FPGA[isa.TO["timing_wait_until"]].payload_bits) - 1


def spike_label(hemisphere, driver, activation) -> np.ndarray:
    """grenade's MAC label of an activation for driver d of a hemisphere: crossbar input
    d % 4 (the driver's PADI bus), row select d // 4, the HAGEN address of the activation, and
    the hemisphere in bit 13, which the MAC's crossbar routes on."""
    d = np.asarray(driver)
    return (np.asarray(hemisphere) << HEMISPHERE_LABEL_BIT) | isa.spike_label(
        d % 4, d // 4, isa.HAGEN_ACTIVATION_CODE - np.asarray(activation))


# label of (hemisphere, driver, activation), for the compiled event loop
_LABELS = spike_label(*np.meshgrid(np.arange(2), np.arange(ROWS), np.arange(ACTIVATION_MAX + 1),
                                   indexing="ij")).astype(np.int64)


# the configurations `MAC._configuration` derived last, newest last: (the image, its words
# then, the weights, the words of each tile pair)
_CONFIGS: list[tuple] = []
_CONFIGS_LOCK = threading.Lock()
CONFIG_CACHE_SIZE = 8
_PROGRAMS = Scratch(np.uint64)  # the program buffer, reused while no program holds it
SPLIT_ASSEMBLE_WORDS = 1 << 16  # larger programs are written in two halves at once


def _check_integral(name: str, x: np.ndarray, lo: int, hi: int, *,
                    copy: bool = True) -> np.ndarray:
    """`x` as int64 after the checks; `copy=False`: the caller's array where it already is."""
    a = np.asarray(x)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer)
                               or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or (a != np.round(a)).any():
            raise OverflowError(f"{name} must be integer-valued in {lo}..{hi}")
    if a.size and (a.min() < lo or a.max() > hi):
        bad = a[(a < lo) | (a > hi)].ravel()[0]
        raise OverflowError(f"{name} value {bad} is out of range {lo}..{hi}")
    return a.astype(np.int64, copy=copy)


class ChipNotConfiguredError(RuntimeError):
    """What the host knows about the chip says it is not in a HAGEN configuration."""


HOW_TO_CONFIGURE = (
    "configure it first: connection.run(driver.base_config.hagen_base_configuration()"
    ".to_program()), then optionally a calibration (driver.calibration.calibrate(connection) "
    "or apply_calibration), or in the torch API hxtorch.init_hardware()")


def hagen_problems(image: ChipImage) -> list[str]:
    """Why the chip in `image` cannot run a HAGEN multiply (empty: it can).

    The checks cover what the MAC depends on but does not write itself: CADC, its neuron
    readout, the neurons' readout and synaptic inputs, the drivers' HAGEN modulation and the
    CapMem (all zero = never written)."""
    def fields(name: str) -> dict[str, np.ndarray]:
        reg = REGISTERS[name]
        return reg.layout.decode(image.get(reg.all_addresses()))

    problems = []
    decoded: dict[str, dict[str, np.ndarray]] = {}
    for name, field, want in _HAGEN_CHECKS:
        value = decoded.setdefault(name, fields(name))[field]
        bad = int((value != want).sum())
        if bad:
            problems.append(f"{name}.{field} is not {want} in {bad} of {value.size} places")
    if not decoded.setdefault("CapMemCell", fields("CapMemCell"))["value"].any():
        problems.append("the CapMem was never written (all cells 0)")
    return problems


_HAGEN_CHECKS = (  # (register, field, the value the MAC needs everywhere)
    ("CADCConfig", "enable", 1),
    ("ColumnCorrelationQuad", "enable_cadc_neuron_readout_causal", 1),
    ("NeuronConfig", "enable_readout_amplifier", 1),
    ("NeuronConfig", "readout_source", 0),
    ("NeuronConfig", "enable_synaptic_input_excitatory", 1),
    ("NeuronConfig", "enable_synaptic_input_inhibitory", 1),
    ("SynapseDriverConfig", "enable_hagen_modulation", 1),
    ("SynapseDriverConfig", "enable_hagen_dac", 1),
)


@cache
def _hagen_slots() -> np.ndarray:
    """The storage slots `hagen_problems` reads."""
    names = {name for name, _, _ in _HAGEN_CHECKS} | {"CapMemCell"}
    return np.concatenate([storage_map().slot_of[n].ravel() for n in sorted(names)])


def check_hagen_configuration(image: ChipImage) -> None:
    """Raise `ChipNotConfiguredError` unless `image` is in a HAGEN configuration."""
    problems = image.derived("hagen_problems", hagen_problems, _hagen_slots())
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ChipNotConfiguredError(
            "the MAC cannot trust this chip, it is not in a HAGEN configuration ("
            + "; ".join(problems[:3]) + more + "): " + HOW_TO_CONFIGURE)


def _known_image(connection) -> ChipImage:
    image = getattr(connection, "shadow", None)
    if not isinstance(image, ChipImage):
        raise TypeError(f"MAC.run needs a connection that keeps a ChipImage of its chip "
                        f"(an EmulatorConnection or RemoteConnection), got {connection!r}")
    return image


class MAC:
    """Multiply activations (batch, inputs) with `weights` (inputs, outputs) on the chip."""

    def __init__(self, weights, num_sends: int = 1, wait_between_events: int = 5) -> None:
        w = _check_integral("weights", weights, -WEIGHT_MAX, WEIGHT_MAX)
        if w.ndim != 2 or 0 in w.shape:
            raise RuntimeError(f"weights must be a non-empty 2-d (inputs, outputs) array, got "
                               f"shape {tuple(w.shape)}")
        if isinstance(num_sends, bool) or not isinstance(num_sends, int | np.integer) \
                or num_sends < 1:
            raise ValueError(f"num_sends must be an int >= 1, got {num_sends!r}")
        if isinstance(wait_between_events, bool) or not isinstance(
                wait_between_events, int | np.integer) or not 1 <= wait_between_events < WAIT_LIMIT:
            raise ValueError(f"wait_between_events must be an int in 1..2**20-1 FPGA cycles, "
                             f"got {wait_between_events!r}")
        self.weights = w
        self.num_sends = int(num_sends)
        self.wait_between_events = int(wait_between_events)
        self.chip_time_s = 0.0
        # (FPGA cycles since the start of the last run, 10-bit values) of the last run that
        # recorded with the MADC
        self.last_madc: tuple[np.ndarray, np.ndarray] | None = None
        n_in, n_out = w.shape
        self.tiles = [(i, o) for o in range(0, n_out, COLUMNS) for i in range(0, n_in, ROWS)]
        self._pair_sizes = np.array([len(self.tiles[k:k + 2])
                                     for k in range(0, len(self.tiles), 2)], dtype=np.int64)
        self._tile_outputs = np.array([o for _, o in self.tiles], dtype=np.int64)

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    def run(self, activations, connection, *, madc_neuron: int | None = None) -> np.ndarray:
        """int8 outputs (batch, outputs) of one program on `connection`.

        With `madc_neuron` (0..511 = 256 * hemisphere + column) the MADC records that neuron's
        membrane from the start to the end of the program, one sample every
        `MADC_SAMPLE_PERIOD` FPGA cycles; `last_madc` then holds (FPGA cycles since the start
        of the run, 10-bit values).
        """
        x, results = self._run(activations, connection, madc_neuron)
        return _sum_tiles(results, x.shape[0], self._pair_sizes, self._tile_outputs,
                          self.weights.shape[1], R.QUAD_ENTRY_COLUMN, ppu.VECTOR_ENTRY_SHIFT)

    def run_tiles(self, activations, connection, *,
                  madc_neuron: int | None = None) -> np.ndarray:
        """int8 results per tile before the host addition: (batch, len(self.tiles), 256).

        Tile k = self.tiles[k] = (first input, first output) ran on hemisphere k % 2; column j
        of its result is neuron j of that hemisphere (calibration measures neurons this way).
        `madc_neuron`: as in `run`.
        """
        x, results = self._run(activations, connection, madc_neuron)
        batch = x.shape[0]
        out = np.zeros((batch, len(self.tiles), COLUMNS), dtype=np.int8)
        at = 0
        for k, n in zip(range(0, len(self.tiles), 2), self._pair_sizes):
            words = results[at:at + batch * n * ppu.VECTOR_WORDS].reshape(batch, n, -1)
            out[:, k:k + n] = ppu.unpack_vector(words)
            at += words.size
        return out

    def _run(self, activations, connection, madc_neuron) -> tuple[np.ndarray, np.ndarray]:
        """Checked activations and the result words of every tile pair (pair after pair, entry
        after entry, each entry's vectors in tile order)."""
        if madc_neuron is not None and (isinstance(madc_neuron, bool) or not isinstance(
                madc_neuron, int | np.integer) or not 0 <= madc_neuron < NEURONS):
            raise OverflowError(f"madc_neuron must be an int in 0..{NEURONS - 1}, "
                                f"got {madc_neuron!r}")
        if not (hasattr(connection, "run") and hasattr(connection, "shadow")):
            raise TypeError(f"connection must be a connection (EmulatorConnection, "
                            f"RemoteConnection), got {type(connection).__name__}")
        x = _check_integral("activations", activations, 0, ACTIVATION_MAX, copy=False)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise RuntimeError(f"activations of shape {tuple(x.shape)} do not match weights of "
                               f"shape {tuple(self.weights.shape)}: need (batch, "
                               f"{self.weights.shape[0]})")
        if x.shape[0] == 0:
            return x, np.zeros(0, dtype=np.uint32)
        image = _known_image(connection)
        check_hagen_configuration(image)
        builder = PlaybackProgramBuilder()
        words, n_results = self._program(np.ascontiguousarray(x), self._configuration(image))
        ticket = builder.append_words(words, responses=n_results, adopt=True)
        program = builder.done()
        if madc_neuron is not None:
            program = _with_madc(program, int(madc_neuron))
        info = connection.run(program)
        self.chip_time_s = info.chip_time_s
        if madc_neuron is not None:
            times, values = program.result.madc_samples()
            self.last_madc = (times - info.start_cycle, values)
        return x, ticket.get()

    def _program(self, x: np.ndarray, config: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """All tile pairs' words, configuration and batch, in one buffer with room for the
        halt behind them (`Program.with_halt`); and the number of result reads."""
        batch, n_in = x.shape
        W, ns = self.wait_between_events, self.num_sends
        head, read_cmd = _sequence_words()
        parts = []
        for p, n in enumerate(self._pair_sizes):
            starts = np.array([self.tiles[2 * p + h][0] if h < n else 0 for h in range(2)])
            widths = np.array([min(ROWS, n_in - starts[h]) if h < n else 0 for h in range(2)])
            counts = _active_counts(x, starts, widths)
            longest = int(counts.max()) * W * ns
            last = T_REALTIME + longest + 1 + WAIT_AFTER_REALTIME + PPU_COMMAND_CYCLES + READ_WAIT
            if last > TIMER_MAX:
                raise ValueError(
                    f"num_sends={ns} x wait_between_events={W} FPGA cycles x "
                    f"{longest // max(W * ns, 1)} active inputs per tile needs the timer to "
                    f"reach {last} cycles, beyond its {TIMER_MAX}: lower num_sends or "
                    "wait_between_events")
            fetch = _fetch_words(n)
            # words per entry: head, events, wait, read command, wait, fetch
            sizes = head.size + 2 + read_cmd.size + fetch.size + 2 * ns * counts.max(axis=1)
            parts.append((starts, widths, counts, fetch, sizes))
        total = sum(c.size for c in config) + sum(int(part[-1].sum()) for part in parts)
        out = _PROGRAMS.get((total + 1,))
        split = total >= SPLIT_ASSEMBLE_WORDS and host_threads() > 1
        at = 0
        for c, (starts, widths, counts, fetch, sizes) in zip(config, parts):
            out[at:at + c.size] = c
            at += c.size
            job = (x, starts, widths, counts, ns, W, head, read_cmd, fetch, T_REALTIME, _LABELS)
            if split:  # the two halves of the batch at once
                mid = batch // 2
                upper = HELPER.submit(_assemble, out, at + int(sizes[:mid].sum()), mid, batch,
                                      *job)
                _assemble(out, at, 0, mid, *job)
                at = upper.result()
            else:
                at = _assemble(out, at, 0, batch, *job)
        out[at] = isa.HALT_WORD
        return out[:at], batch * sum(part[3].size for part in parts)

    # -- configuration of a tile pair ---------------------------------------------------------

    def _configuration(self, image: ChipImage) -> list[np.ndarray]:
        """The configuration words of every tile pair, differential against the connection's
        `ChipImage`. Cached while the image holds what it held when they were derived: a MAC
        (this one or another one with equal weights, as the torch API makes per call) that
        runs again on an unchanged chip reuses them instead of re-encoding every register."""
        with _CONFIGS_LOCK:
            for i in range(len(_CONFIGS) - 1, -1, -1):
                held, words, weights, config = _CONFIGS[i]
                if held() is image and weights.shape == self.weights.shape and np.array_equal(
                        weights, self.weights) and np.array_equal(words, image.words):
                    _CONFIGS.append(_CONFIGS.pop(i))
                    return config
        diff = _DifferentialWrites(image)
        config = []
        for k in range(0, len(self.tiles), 2):
            b = PlaybackProgramBuilder()
            self._configure(b, self.tiles[k:k + 2], diff)
            config.append(b.done().words)
        with _CONFIGS_LOCK:
            _CONFIGS.append((weakref.ref(image), image.words.copy(), self.weights.copy(), config))
            del _CONFIGS[:-CONFIG_CACHE_SIZE]
        return config

    def _configure(self, b: PlaybackProgramBuilder, pair, diff: _DifferentialWrites) -> None:
        """The fields a multiplication owns, each through its register's layout; the others
        (calibration, debug switches) read-modify-write from what the host knows."""
        used_in = np.zeros((2, ROWS), dtype=bool)
        used_out = np.zeros((2, COLUMNS), dtype=bool)
        weights = np.zeros((2, 2 * ROWS, COLUMNS), dtype=np.int64)
        for h, (i0, o0) in enumerate(pair):
            w = self.weights[i0:i0 + ROWS, o0:o0 + COLUMNS]
            used_in[h, :w.shape[0]] = True
            used_out[h, :w.shape[1]] = True
            weights[h, 1:2 * w.shape[0]:2, :w.shape[1]] = np.maximum(w, 0)  # top: excitatory
            weights[h, 0:2 * w.shape[0]:2, :w.shape[1]] = np.maximum(-w, 0)  # bottom: inh.
        # synapse weights and labels through the 1-word views (calibration bits untouched)
        hrq = _grid(2, R.SYNAPSE_ROWS, R.QUADS)
        h, row, q = (g.ravel() for g in hrq)
        by_quad = weights[h[:, None], row[:, None], R.QUAD_ENTRY_COLUMN[q]]
        diff.put(b, "SynapseWeightQuad", {"weights": by_quad}, hemisphere=h, row=row, quad=q)
        diff.put(b, "SynapseLabelQuad", {"labels": 0}, hemisphere=h, row=row, quad=q)
        # synapse drivers
        h, d = (g.ravel() for g in _grid(2, ROWS))
        on = used_in[h, d]
        diff.put(b, "SynapseDriverConfig", {
            "row_address_compare_mask": np.full(h.size, 0b11111),
            "row_mode_top": np.where(on, 1, 0),  # excitatory
            "row_mode_bottom": np.where(on, 2, 0),  # inhibitory
            "enable_address_out": np.zeros(h.size, dtype=np.int64),
            "enable_receiver": on.astype(np.int64)}, hemisphere=h, driver=d)
        # column current switches (debug switches kept)
        h, q = (g.ravel() for g in _grid(2, R.QUADS))
        on = used_out[h[:, None], R.QUAD_ENTRY_COLUMN[q]].astype(np.int64)
        diff.put(b, "ColumnCurrentQuad", {"enable_synaptic_current_excitatory": on,
                                          "enable_synaptic_current_inhibitory": on},
                 hemisphere=h, quad=q)
        # crossbar: L2 input 8+i -> PADI bus i of hemisphere h, hemisphere selected by bit 13
        nodes = np.arange(24, 60)
        i, out = (nodes - 24) // 9, (nodes - 24) % 9
        hh = out // 4
        route = (out < 8) & (i == out % 4) & (i < np.minimum(used_in.sum(1), 4)[
            np.minimum(hh, 1)])
        drop = diff.fields("CrossbarNode", node=nodes)["enable_drop_counter"]
        diff.put(b, "CrossbarNode", {
            "mask": np.where(route, 1 << HEMISPHERE_LABEL_BIT, 0),
            "target": np.where(route, hh << HEMISPHERE_LABEL_BIT, 1),
            "enable_drop_counter": np.where(route, 1, drop)}, node=nodes)
        # PADI buses: SPL1 enables
        n_bus = np.minimum(used_in.sum(1), 4)
        diff.put(b, "CommonPADIBusConfig", {
            "enable_spl1": (np.arange(4)[None, :] < n_bus[:, None]).astype(np.int64)},
            hemisphere=np.arange(2))
        # PPU: reset mask (byte 1 for the used columns) and make sure the program runs
        mask = ppu.pack_vector(used_out.astype(np.int64))
        diff.put(b, "PPUMemoryWord", {"value": mask.ravel()},
                 ppu=np.repeat(np.arange(2), ppu.VECTOR_WORDS),
                 word=np.tile(ppu.RESET_MASK_WORD + np.arange(ppu.VECTOR_WORDS), 2))
        ctrl = REGISTERS["PPUControlRegister"]
        b.write_omnibus(ctrl.addresses(ppu=np.arange(2)).ravel(),
                        ctrl.layout.encode({"inhibit_reset": 1}, n=2).ravel())

def _duration_bound(words: np.ndarray) -> int:
    """An upper bound of a program's FPGA cycles: every word takes at least one cycle, and a
    wait lasts at most until its timer value (the timer restarts at each `timing_setup`)."""
    head = words >> np.uint64(56)
    segment = np.cumsum(head == H_SETUP)
    is_wait = head == H_WAIT
    waits = (words[is_wait] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    longest = np.zeros(int(segment[-1]) + 1 if words.size else 1, dtype=np.int64)
    np.maximum.at(longest, segment[is_wait], waits)
    return int(longest.sum()) + int(words.size)


def _with_madc(program, neuron: int):
    """`program` with an MADC recording of `neuron` that spans all of it (and then stops).

    The recording's writes hold no reads, so the program's tickets stay valid."""
    samples = min(MADC_MAX_SAMPLES, _duration_bound(program.words) // MADC_SAMPLE_PERIOD + 16)
    head = PlaybackProgramBuilder()
    head.write(MADCConfigOnDLS(), MADCConfig(
        enable=True, readout_source=0, neuron=neuron, sample_period=MADC_SAMPLE_PERIOD,
        number_of_samples=samples))
    head.write(MADCControlOnDLS(), MADCControl(start_recording=True))
    tail = PlaybackProgramBuilder()
    tail.write(MADCControlOnDLS(), MADCControl(stop_recording=True))
    start, stop = head.done().words, tail.done().words
    program.words = np.concatenate([start, program.words, stop])
    program.madc_samples = samples
    return program


class _DifferentialWrites:
    """Emit only words that differ from what the chip holds (stadls' differential write).

    Compares, through each register's view, against the connection's `ChipImage` plus what
    this program has written so far, so a MAC that runs again with the same weights writes
    (almost) nothing, and a weight written through any other view is rewritten.
    """

    def __init__(self, image: ChipImage) -> None:
        self.image = image.copy()

    def fields(self, name: str, **index) -> dict[str, np.ndarray]:
        """The decoded fields of register `name` at `index` (vectorised), as the chip holds
        them once this program's writes so far have run."""
        reg = REGISTERS[name]
        return reg.layout.decode(self.image.get(reg.addresses(**index)))

    def put(self, b: PlaybackProgramBuilder, name: str, owned: dict, **index) -> None:
        """Write the `owned` fields of register `name` at `index`, keeping its other fields."""
        reg = REGISTERS[name]
        addr = reg.addresses(**index)
        n = addr.shape[0]
        old = self.image.get(addr)
        if len(owned) == len(reg.layout.fields):  # every field owned: nothing to keep
            fields = dict(owned)
        else:
            fields = reg.layout.decode(old)
            for k, v in owned.items():
                fields[k] = np.broadcast_to(np.asarray(v, dtype=np.int64), fields[k].shape)
        a = addr.ravel()
        w = reg.layout.encode(fields, n=n).ravel().astype(np.uint32)
        changed = old.ravel() != w
        if changed.any():
            words = ins.omnibus_write(a[changed], w[changed])
            b.append_words(words)
            self.image.update(words)


def _grid(*sizes: int) -> list[np.ndarray]:
    return np.meshgrid(*(np.arange(n) for n in sizes), indexing="ij")


T_RESET = PPU_COMMAND_CYCLES + ppu.HOST_WAIT["baseline_read"]  # grenade's sequence per entry
T_REALTIME = T_RESET + PPU_COMMAND_CYCLES + ppu.HOST_WAIT["reset_neurons"] + WAIT_BEFORE_REALTIME


def _command(value: int) -> np.ndarray:
    """A command to both PPUs (a write of their status words)."""
    status = REGISTERS["PPUMemoryWord"].addresses(ppu=np.arange(2), word=ppu.STATUS_WORD)
    return ins.omnibus_write(status.ravel(), [value, value])


@cache
def _sequence_words() -> tuple[np.ndarray, np.ndarray]:
    """(head, read command) of every batch entry: timer reset, baseline read, neuron reset;
    the read."""
    head = np.concatenate([ins.encode("timing_setup"), _command(ppu.STATUS["baseline_read"]),
                           ins.wait_until(T_RESET), _command(ppu.STATUS["reset_neurons"])])
    return head, _command(ppu.STATUS["read"])


@cache
def _fetch_words(n: int) -> np.ndarray:
    """The read-out of the result vectors of PPUs 0 .. n - 1."""
    result = REGISTERS["PPUMemoryWord"].addresses(
        ppu=np.arange(n)[:, None], word=ppu.CADC_RESULT_WORD + np.arange(ppu.VECTOR_WORDS))
    return ins.omnibus_read(result.ravel())


@njit(cache=True)
def _active_counts(x, starts, widths):
    """Per entry and hemisphere the number of active inputs (activation > 0) of a tile pair:
    hemisphere h holds inputs starts[h] .. starts[h] + widths[h] - 1."""
    counts = np.zeros((x.shape[0], 2), dtype=np.int64)
    for b in range(x.shape[0]):
        for h in range(2):
            c = 0
            for d in range(widths[h]):
                if x[b, starts[h] + d] > 0:
                    c += 1
            counts[b, h] = c
    return counts


@njit(cache=True, nogil=True)
def _assemble(out, k, b0, b1, x, starts, widths, counts, ns, W, head, read_cmd, fetch, t_rt,
              labels):
    """A tile pair's words of entries b0 .. b1 - 1 into out[k:]: head, events, read command,
    result reads (docs/instruction-set.md); returns the index behind them.

    Events follow grenade's MACSpikeTrainGenerator: hemisphere h of an entry has
    C_h labels L_h (ascending driver); slot n = 0 .. N ns - 1 (N = max C_h) sits at T - n W
    (T = N W ns, relative to the realtime start t_rt) and carries L_h[n % C_h] for every h
    with n < C_h ns: the shorter hemisphere is aligned to the end, a sweep in descending
    driver order repeats ns times, simultaneous labels share a SpikePack2.
    """
    drivers = np.empty((2, ROWS), dtype=np.int64)
    for b in range(b0, b1):
        for j in range(head.size):
            out[k] = head[j]
            k += 1
        for h in range(2):
            c = 0
            for d in range(widths[h]):
                if x[b, starts[h] + d] > 0:
                    drivers[h, c] = d
                    c += 1
        n_max = max(counts[b, 0], counts[b, 1])
        T = n_max * W * ns
        for n in range(n_max * ns - 1, -1, -1):
            out[k] = (H_WAIT << np.uint64(56)) | np.uint64(t_rt + T - n * W)
            payload = np.uint64(0)
            size = 0
            for h in range(2):
                ch = counts[b, h]
                if n < ch * ns:
                    d = drivers[h, n % ch]
                    label = labels[h, d, x[b, starts[h] + d]]
                    payload = (payload << np.uint64(16)) | np.uint64(label)
                    size += 1
            out[k + 1] = (np.uint64(H_PACK_1 + size - 1) << np.uint64(56)) | payload
            k += 2
        t_read = t_rt + T + 1 + WAIT_AFTER_REALTIME
        out[k] = (H_WAIT << np.uint64(56)) | np.uint64(t_read)
        k += 1
        for j in range(read_cmd.size):
            out[k] = read_cmd[j]
            k += 1
        out[k] = (H_WAIT << np.uint64(56)) | np.uint64(
            t_read + PPU_COMMAND_CYCLES + READ_WAIT)
        k += 1
        for j in range(fetch.size):
            out[k] = fetch[j]
            k += 1
    return k


@njit(cache=True)
def _sum_tiles(results, batch, pair_sizes, tile_outputs, n_out, column_of, shift_of_entry):
    """The int8 outputs (batch, n_out): each tile's result vectors (the layout of `MAC._run`;
    word q, entry e of a vector holds column column_of[q, e]) added per output column, then
    saturated, as the host adds partial sums."""
    out = np.empty((batch, n_out), dtype=np.int8)
    acc = np.empty(n_out, dtype=np.int64)
    for b in range(batch):
        acc[:] = 0
        at = 0
        k = 0
        for n in pair_sizes:
            for t in range(n):
                o0 = tile_outputs[k + t]
                width = min(COLUMNS, n_out - o0)
                base = at + (b * n + t) * VECTOR_WORDS
                for q in range(VECTOR_WORDS):
                    word = np.int64(results[base + q])
                    for e in range(4):
                        c = column_of[q, e]
                        if c < width:
                            v = (word >> shift_of_entry[e]) & 0xFF
                            acc[o0 + c] += v - 256 if v > 127 else v
            at += batch * n * VECTOR_WORDS
            k += n
        for o in range(n_out):
            out[b, o] = min(127, max(-128, acc[o]))
    return out


__all__ = ["MAC", "spike_label", "isa"]
