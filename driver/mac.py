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

from functools import cache

import numpy as np
from numba import njit

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


def _check_integral(name: str, x: np.ndarray, lo: int, hi: int) -> np.ndarray:
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
    return a.astype(np.int64)


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
        self._config_cache: tuple | None = None  # see _configuration

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
        per_tile = self.run_tiles(activations, connection, madc_neuron=madc_neuron)
        batch, n_out = per_tile.shape[0], self.weights.shape[1]
        out = np.zeros((batch, n_out), dtype=np.int64)
        for k, (_, o0) in enumerate(self.tiles):
            width = min(COLUMNS, n_out - o0)
            out[:, o0:o0 + width] += per_tile[:, k, :width]
        return np.clip(out, -128, 127).astype(np.int8)

    def run_tiles(self, activations, connection, *,
                  madc_neuron: int | None = None) -> np.ndarray:
        """int8 results per tile before the host addition: (batch, len(self.tiles), 256).

        Tile k = self.tiles[k] = (first input, first output) ran on hemisphere k % 2; column j
        of its result is neuron j of that hemisphere (calibration measures neurons this way).
        `madc_neuron`: as in `run`.
        """
        if madc_neuron is not None and (isinstance(madc_neuron, bool) or not isinstance(
                madc_neuron, int | np.integer) or not 0 <= madc_neuron < NEURONS):
            raise OverflowError(f"madc_neuron must be an int in 0..{NEURONS - 1}, "
                                f"got {madc_neuron!r}")
        if not (hasattr(connection, "run") and hasattr(connection, "shadow")):
            raise TypeError(f"connection must be a connection (EmulatorConnection, "
                            f"RemoteConnection), got {type(connection).__name__}")
        x = _check_integral("activations", activations, 0, ACTIVATION_MAX)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise RuntimeError(f"activations of shape {tuple(x.shape)} do not match weights of "
                               f"shape {tuple(self.weights.shape)}: need (batch, "
                               f"{self.weights.shape[0]})")
        batch = x.shape[0]
        out = np.zeros((batch, len(self.tiles), COLUMNS), dtype=np.int8)
        if batch == 0:
            return out
        builder = PlaybackProgramBuilder()
        reads = []
        image = _known_image(connection)
        check_hagen_configuration(image)
        config = self._configuration(image)
        for k in range(0, len(self.tiles), 2):
            pair = self.tiles[k:k + 2]
            builder.append_words(config[k // 2])
            reads.append((k, len(pair), self._schedule(builder, pair, x)))
        program = builder.done()
        if madc_neuron is not None:
            program = _with_madc(program, int(madc_neuron))
        info = connection.run(program)
        self.chip_time_s = info.chip_time_s
        if madc_neuron is not None:
            times, values = program.result.madc_samples()
            self.last_madc = (times - info.start_cycle, values)
        for k, n, ticket in reads:
            words = ticket.get().reshape(batch, n, 64)
            out[:, k:k + n] = ppu.unpack_vector(words)
        return out

    # -- configuration of a tile pair ---------------------------------------------------------

    def _configuration(self, image: ChipImage) -> list[np.ndarray]:
        """The configuration words of every tile pair, differential against the connection's
        `ChipImage`. Cached while the image holds what it held when they were derived: a MAC
        that runs again on an unchanged chip reuses them instead of re-encoding every
        register."""
        cached = self._config_cache
        if cached is not None and cached[0] is image and np.array_equal(
                cached[1], image.words) and np.array_equal(cached[2], self.weights):
            return cached[3]
        diff = _DifferentialWrites(image)
        words = []
        for k in range(0, len(self.tiles), 2):
            b = PlaybackProgramBuilder()
            self._configure(b, self.tiles[k:k + 2], diff)
            words.append(b.done().words)
        self._config_cache = (image, image.words.copy(), self.weights.copy(), words)
        return words

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

    # -- the batch -----------------------------------------------------------------------------

    def _schedule(self, b: PlaybackProgramBuilder, pair, x: np.ndarray):
        """Per batch entry the grenade sequence; returns the ticket of all result reads."""
        batch = x.shape[0]
        W, ns = self.wait_between_events, self.num_sends
        act = np.zeros((batch, 2, ROWS), dtype=np.int64)
        for h, (i0, _) in enumerate(pair):
            chunk = x[:, i0:i0 + ROWS]
            act[:, h, :chunk.shape[1]] = chunk
        t_reset = PPU_COMMAND_CYCLES + ppu.HOST_WAIT["baseline_read"]
        t_rt = t_reset + PPU_COMMAND_CYCLES + ppu.HOST_WAIT["reset_neurons"] \
            + WAIT_BEFORE_REALTIME
        memory = REGISTERS["PPUMemoryWord"]
        status = memory.addresses(ppu=np.arange(2), word=ppu.STATUS_WORD).ravel()

        def command(value):
            return ins.omnibus_write(status, [value, value])

        head = np.concatenate([ins.encode("timing_setup"), command(ppu.STATUS["baseline_read"]),
                               ins.wait_until(t_reset), command(ppu.STATUS["reset_neurons"])])
        result = memory.addresses(ppu=np.arange(len(pair))[:, None],
                                  word=ppu.CADC_RESULT_WORD + np.arange(ppu.VECTOR_WORDS))
        fetch = ins.omnibus_read(result.ravel())
        longest = int((act > 0).sum(axis=2).max()) * W * ns
        last = t_rt + longest + 1 + WAIT_AFTER_REALTIME + PPU_COMMAND_CYCLES + READ_WAIT
        if last > TIMER_MAX:
            raise ValueError(
                f"num_sends={ns} x wait_between_events={W} FPGA cycles x "
                f"{longest // max(W * ns, 1)} active inputs per tile needs the timer to reach "
                f"{last} cycles, beyond its {TIMER_MAX}: lower num_sends or "
                "wait_between_events")
        words = _assemble(act, ns, W, head, command(ppu.STATUS["read"]), fetch, t_rt,
                          _LABELS)
        return b.append_words(words, responses=batch * fetch.size)


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


@njit(cache=True)
def _assemble(act, ns, W, head, read_cmd, fetch, t_rt, labels):
    """All entries' words: head, events, read command, result reads (docs/instruction-set.md).

    Events follow grenade's MACSpikeTrainGenerator: hemisphere h of an entry has
    C_h labels L_h (ascending driver); slot n = 0 .. N ns - 1 (N = max C_h) sits at T - n W
    (T = N W ns, relative to the realtime start t_rt) and carries L_h[n % C_h] for every h
    with n < C_h ns: the shorter hemisphere is aligned to the end, a sweep in descending
    driver order repeats ns times, simultaneous labels share a SpikePack2.
    """
    batch = act.shape[0]
    counts = np.zeros((batch, 2), dtype=np.int64)
    for b in range(batch):
        for h in range(2):
            for d in range(act.shape[2]):
                if act[b, h, d] > 0:
                    counts[b, h] += 1
    tail = 2 + read_cmd.size + fetch.size
    total = 0
    for b in range(batch):
        total += head.size + 2 * max(counts[b, 0], counts[b, 1]) * ns + tail
    out = np.empty(total, dtype=np.uint64)
    drivers = np.empty((2, act.shape[2]), dtype=np.int64)
    k = 0
    for b in range(batch):
        for j in range(head.size):
            out[k] = head[j]
            k += 1
        for h in range(2):
            c = 0
            for d in range(act.shape[2]):
                if act[b, h, d] > 0:
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
                    label = labels[h, d, act[b, h, d]]
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
    return out




__all__ = ["MAC", "spike_label", "isa"]
