"""Where every register lives: omnibus addresses as functions of its index (docs/register-map.md).

A `Register` ties a word `Layout` to an index space (named dimensions) and an address
function that is vectorised over numpy index arrays. The emulator derives its storage and
reset image from this table; the driver derives container addresses from it. Nothing else
in the project writes an address down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import layouts as L
from .layout import Layout

# Per hemisphere h, everything below the PPU subtree sits at top base + h * HEMISPHERE_STRIDE.
HEMISPHERE_STRIDE = 0x0100_0000
SUBTREE_BASE = 0x0200_0000  # CommonSynramConfig
CORRELATION_CONFIG_BASE = 0x0220_0000
CADC_BUSREG_BASE = 0x0240_1000
CADC_OFFSET_SRAM_BASE = (0x0240_0800, 0x0240_0000)  # west, east
CADC_DEBUG_LINE_BASE = 0x0240_1100  # hxemu
PPU_MEMORY_BASE = 0x0280_0000
PPU_CONTROL_BASE = 0x02A0_0000
SYNRAM_WEIGHT_BASE = 0x02C0_0000
SYNRAM_EVEN_2MSB_BASE = 0x02C1_0000
SYNRAM_ODD_2MSB_BASE = 0x02C2_0000
SYNRAM_LABEL_BASE = 0x02C4_0000
CADC_SAMPLE_BASE = (0x02C8_0000, 0x02CC_0000)  # causal, acausal
CADC_BUFFERED_MASK = 0x0020_0000
CORRELATION_RESET_BASE = 0x02C9_0000
SYNRAM_RAW_BASE = 0x02CF_0000
PADI_BASE = (0x0011_0000, 0x0011_8000)
SYNAPSE_DRIVER_BASE = (0x0011_0400, 0x0011_8400)
CROSSBAR_OUTPUT_CONFIG_BASE = 0x0013_0000
CROSSBAR_NODE_BASE = 0x0013_0019
CROSSBAR_DROP_COUNTER_BASE = 0x0013_0065
CROSSBAR_EVENT_COUNTER_BASE = 0x0013_0079
CAPMEM_CELL_BASE = (0x0014_0000, 0x0014_8000, 0x0015_0000, 0x0015_8000)
CAPMEM_CONFIG_BASE = (0x0014_4000, 0x0014_C000, 0x0015_4000, 0x0015_C000)
NEURON_CONFIG_BASE = (0x0016_0000, 0x0016_8000, 0x0017_0000, 0x0017_8000)
NEURON_BACKEND_BASE = (0x001A_1000, 0x001A_9000)
COMMON_NEURON_BACKEND_BASE = (0x001A_1800, 0x001A_9800)
MADC_BASE = 0x000C_0000
EXECUTOR_BASE = 0x8800_0000  # FPGA playback executor register file
# executor registers the emulator's FPGA loop uses directly
DEVICE_DNA = EXECUTOR_BASE + 0x3
POLLING_ADDRESS = EXECUTOR_BASE + 0x6
POLLING_TARGET = EXECUTOR_BASE + 0x7
POLLING_MASK = EXECUTOR_BASE + 0x8
INSTRUCTION_TIMEOUT = EXECUTOR_BASE + 0x9
TIMER_READOUT = EXECUTOR_BASE + 0xC
FPGA_OMNIBUS_MASK = 0x8000_0000  # bit 31 set: FPGA-local target

SYNAPSE_ROWS = 256
QUADS = 64
COLUMNS = 256
DRIVERS = 128
CAPMEM_COLUMNS = 130
CAPMEM_ROWS = 24
PPU_MEMORY_WORDS = 4096
CROSSBAR_NODES = 76
CROSSBAR_INPUTS = 20
CROSSBAR_OUTPUTS = 12
ENTRIES_PER_QUAD = 4

# Column <-> (quad, entry): quads 0..31 hold the even columns, 32..63 the odd; entry e of quad q
# is column ((q % 32) * 4 + e) * 2 + q // 32 (docs/register-map.md). The one statement of this
# permutation: synapse quads, column switches, neuron-reset quads and the PPU's vector layout
# all use these tables.
_Q, _E = np.meshgrid(np.arange(QUADS), np.arange(ENTRIES_PER_QUAD), indexing="ij")
QUAD_ENTRY_COLUMN = ((_Q % 32) * 4 + _E) * 2 + _Q // 32  # (64, 4) int64
COLUMN_QUAD = np.empty(COLUMNS, dtype=np.int64)
COLUMN_QUAD[QUAD_ENTRY_COLUMN] = _Q
COLUMN_ENTRY = np.empty(COLUMNS, dtype=np.int64)
COLUMN_ENTRY[QUAD_ENTRY_COLUMN] = _E
del _Q, _E

# Access kinds: how a host omnibus access behaves.
RW = "rw"  # plain read/write storage
RO = "ro"  # read-only; a write is a failed access
WO = "wo"  # write-only trigger; a read is a failed access


@dataclass(frozen=True)
class View:
    """A register word that aliases bits of another (backing) word: (stored >> shift) & mask."""

    backing: Callable[..., np.ndarray]  # same signature as Register.address, backing addresses
    shift: int
    mask: int


@dataclass(frozen=True)
class Register:
    """A register type: its layout, index dimensions, addresses, access kind and behaviour."""

    name: str
    layout: Layout
    dims: tuple[tuple[str, int], ...]
    address: Callable[..., np.ndarray]
    access: str = RW
    view: View | None = None
    behaviour: str | None = None  # emulator hook, e.g. "timer", "cadc_trigger"
    doc: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(n for _, n in self.dims)

    def check_index(self, **index: int) -> None:
        """Raise ValueError naming the dimension and its range for an out-of-range index."""
        names = [d for d, _ in self.dims]
        if sorted(index) != sorted(names):
            raise ValueError(f"{self.name} is indexed by {names}, got {sorted(index)}")
        for d, n in self.dims:
            v = np.asarray(index[d])
            if v.size and (v.min() < 0 or v.max() >= n):
                raise ValueError(f"{self.name}: {d} must be in 0..{n - 1}, got {int(v.ravel()[0])}")

    def addresses(self, **index) -> np.ndarray:
        """Addresses (..., n_words) as int64 for (arrays of) index values."""
        arrays = [np.asarray(index[d], dtype=np.int64) for d, _ in self.dims]
        out = self.address(*arrays)
        return np.asarray(out, dtype=np.int64)

    def all_indices(self) -> list[np.ndarray]:
        """Every index of this register as flat arrays, one per dimension (C order)."""
        if not self.dims:
            return []
        grids = np.meshgrid(*[np.arange(n) for n in self.shape], indexing="ij")
        return [g.ravel() for g in grids]

    def all_addresses(self) -> np.ndarray:
        """(count, n_words) addresses of every instance."""
        idx = self.all_indices()
        a = self.address(*[np.asarray(i, dtype=np.int64) for i in idx])
        return np.asarray(a, dtype=np.int64).reshape(-1, self.layout.n_words)


def _stack(*words) -> np.ndarray:
    return np.stack(np.broadcast_arrays(*words), axis=-1)


def _hemi(base: int, h) -> np.ndarray:
    return base + np.asarray(h) * HEMISPHERE_STRIDE


def _pick(bases, i) -> np.ndarray:
    return np.asarray(bases, dtype=np.int64)[np.asarray(i)]


def _span(base, n) -> np.ndarray:
    return _stack(*[base + i for i in range(n)])


def _raw(h, row, quad):
    return _hemi(SYNRAM_RAW_BASE, h) + row * 128 + quad


def _quad_view(base):
    return lambda h, row, quad: _stack(_hemi(base, h) + row * 64 + quad)


HEMI = (("hemisphere", 2),)
QUAD_DIMS = (("hemisphere", 2), ("row", SYNAPSE_ROWS), ("quad", QUADS))
BYTE_LOW6 = 0x3F3F3F3F
BYTE_LOW2 = 0x03030303


def _registers() -> list[Register]:
    r = []
    add = r.append
    add(Register("SynapseQuad", L.SYNAPSE_QUAD, QUAD_DIMS,
                 lambda h, row, q: _stack(_raw(h, row, q), _raw(h, row, q) + 64),
                 doc="raw view: weight+time_calib word, label+amp_calib word"))
    add(Register("SynapseWeightQuad", L.SYNAPSE_WEIGHT_QUAD, QUAD_DIMS,
                 _quad_view(SYNRAM_WEIGHT_BASE),
                 view=View(lambda h, row, q: _stack(_raw(h, row, q)), 0, BYTE_LOW6)))
    add(Register("SynapseLabelQuad", L.SYNAPSE_LABEL_QUAD, QUAD_DIMS,
                 _quad_view(SYNRAM_LABEL_BASE),
                 view=View(lambda h, row, q: _stack(_raw(h, row, q) + 64), 0, BYTE_LOW6)))
    add(Register("SynapseCorrelationCalibQuad", L.SYNAPSE_CORRELATION_CALIB_QUAD, QUAD_DIMS,
                 lambda h, row, q: _stack(_hemi(SYNRAM_EVEN_2MSB_BASE, h) + row * 64 + q,
                                          _hemi(SYNRAM_ODD_2MSB_BASE, h) + row * 64 + q),
                 view=View(lambda h, row, q: _stack(_raw(h, row, q), _raw(h, row, q) + 64),
                           6, BYTE_LOW2)))
    add(Register("CommonSynramConfig", L.COMMON_SYNRAM_CONFIG, HEMI,
                 lambda h: _span(_hemi(SUBTREE_BASE, h), 3)))
    add(Register("ColumnCurrentQuad", L.COLUMN_CURRENT_QUAD, HEMI + (("quad", QUADS),),
                 lambda h, q: _stack(_hemi(SYNRAM_EVEN_2MSB_BASE, h) + 16384 + q,
                                     _hemi(SYNRAM_ODD_2MSB_BASE, h) + 16384 + q)))
    add(Register("ColumnCorrelationQuad", L.COLUMN_CORRELATION_QUAD, HEMI + (("quad", QUADS),),
                 lambda h, q: _stack(_hemi(SYNRAM_RAW_BASE, h) + 16384 * 2 + 64 * 2 + q,
                                     _hemi(SYNRAM_RAW_BASE, h) + 16384 * 2 + 64 * 3 + q,
                                     _hemi(SYNRAM_WEIGHT_BASE, h) + 16384 + q,
                                     _hemi(SYNRAM_LABEL_BASE, h) + 16384 + q)))
    add(Register("SynapseDriverConfig", L.SYNAPSE_DRIVER_CONFIG, HEMI + (("driver", DRIVERS),),
                 lambda h, d: _span(_pick(SYNAPSE_DRIVER_BASE, h) + 4 * d, 3)))
    add(Register("PADIEvent", L.PADI_EVENT, HEMI,
                 lambda h: _stack(_pick(PADI_BASE, h)), access=WO, behaviour="padi_event"))
    add(Register("CommonPADIBusConfig", L.COMMON_PADI_BUS_CONFIG, HEMI,
                 lambda h: _stack(_pick(PADI_BASE, h) + 1)))
    add(Register("CommonSTPConfig", L.COMMON_STP_CONFIG, HEMI,
                 lambda h: _stack(_pick(PADI_BASE, h) + 2)))
    add(Register("CrossbarNode", L.CROSSBAR_NODE, (("node", CROSSBAR_NODES),),
                 lambda n: _stack(CROSSBAR_NODE_BASE + n)))
    add(Register("CrossbarOutputConfig", L.CROSSBAR_OUTPUT_CONFIG, (),
                 lambda: _stack(np.int64(CROSSBAR_OUTPUT_CONFIG_BASE))))
    add(Register("CrossbarInputDropCounter", L.EVENT_COUNTER, (("input", CROSSBAR_INPUTS),),
                 lambda i: _stack(CROSSBAR_DROP_COUNTER_BASE + i), access=RO))
    add(Register("CrossbarOutputEventCounter", L.EVENT_COUNTER, (("output", CROSSBAR_OUTPUTS),),
                 lambda o: _stack(CROSSBAR_EVENT_COUNTER_BASE + o), access=RO))
    add(Register("NeuronConfig", L.NEURON_CONFIG, HEMI + (("column", COLUMNS),),
                 lambda h, c: _span(_pick(NEURON_CONFIG_BASE, 2 * h + c // 128) + 2
                                    + 8 * (c % 128), 6)))
    add(Register("NeuronResetQuad", L.NEURON_RESET_QUAD, HEMI + (("quad", QUADS),),
                 lambda h, q: _stack(_hemi(CORRELATION_RESET_BASE, h) + 256 * 64 + q),
                 access=WO, behaviour="neuron_reset"))
    add(Register("NeuronBackendConfig", L.NEURON_BACKEND_CONFIG, HEMI + (("column", COLUMNS),),
                 lambda h, c: _span(_pick(NEURON_BACKEND_BASE, c // 128)
                                    + 4 * (h * 128 + c % 128), 4)))
    add(Register("CommonNeuronBackendConfig", L.COMMON_NEURON_BACKEND_CONFIG, (("block", 2),),
                 lambda b: _span(_pick(COMMON_NEURON_BACKEND_BASE, b), 2)))
    add(Register("CADCConfig", L.CADC_CONFIG, HEMI,
                 lambda h: _stack(_hemi(CADC_BUSREG_BASE, h))))
    add(Register("CADCChannelConfig", L.CADC_CHANNEL_CONFIG,
                 HEMI + (("channel_type", 2), ("column", COLUMNS)),
                 lambda h, t, c: _stack(_hemi(_pick(CADC_OFFSET_SRAM_BASE, c // 128), h)
                                        + 2 * (c % 128) + t)))
    cadc_dims = HEMI + (("channel_type", 2), ("row", SYNAPSE_ROWS), ("quad", QUADS))

    def cadc(buffered):
        return lambda h, t, row, q: _stack(
            _hemi(_pick(CADC_SAMPLE_BASE, t), h) + buffered * CADC_BUFFERED_MASK + row * 64 + q)

    add(Register("CADCSampleQuadBuffered", L.CADC_SAMPLE_QUAD, cadc_dims, cadc(1), access=RO,
                 doc="the result of the last conversion"))
    add(Register("CADCSampleQuadTriggered", L.CADC_SAMPLE_QUAD, cadc_dims, cadc(0), access=RO,
                 view=View(cadc(1), 0, 0xFFFFFFFF), behaviour="cadc_trigger",
                 doc="starts a conversion of the row and returns it"))
    add(Register("CADCDebugLineConfig", L.CADC_DEBUG_LINE_CONFIG, HEMI,
                 lambda h: _stack(_hemi(CADC_DEBUG_LINE_BASE, h))))
    add(Register("CommonCorrelationConfig", L.COMMON_CORRELATION_CONFIG, HEMI,
                 lambda h: _span(_hemi(CORRELATION_CONFIG_BASE, h), 4)))
    add(Register("CapMemCell", L.CAPMEM_CELL,
                 (("block", 4), ("column", CAPMEM_COLUMNS), ("row", CAPMEM_ROWS)),
                 lambda b, c, row: _stack(_pick(CAPMEM_CELL_BASE, b) + c * 32 + row)))
    add(Register("CapMemBlockConfig", L.CAPMEM_BLOCK_CONFIG, (("block", 4),),
                 lambda b: _span(_pick(CAPMEM_CONFIG_BASE, b), 10)))
    add(Register("PPUMemoryWord", L.PPU_MEMORY_WORD, (("ppu", 2), ("word", PPU_MEMORY_WORDS)),
                 lambda p, w: _stack(_hemi(PPU_MEMORY_BASE, p) + w), behaviour="ppu_memory"))
    add(Register("PPUControlRegister", L.PPU_CONTROL_REGISTER, (("ppu", 2),),
                 lambda p: _stack(_hemi(PPU_CONTROL_BASE, p)), behaviour="ppu_control"))
    add(Register("PPUStatusRegister", L.PPU_STATUS_REGISTER, (("ppu", 2),),
                 lambda p: _stack(_hemi(PPU_CONTROL_BASE, p) + 1), access=RO,
                 behaviour="ppu_status"))
    add(Register("MADCConfig", L.MADC_CONFIG, (), lambda: _span(np.int64(MADC_BASE), 3)))
    add(Register("MADCControl", L.MADC_CONTROL, (), lambda: _stack(np.int64(MADC_BASE + 3)),
                 access=WO, behaviour="madc_control"))
    add(Register("FPGADeviceDNA", L.FPGA_DEVICE_DNA, (),
                 lambda: _stack(np.int64(DEVICE_DNA)), access=RO))
    add(Register("EventRecordingConfig", L.EVENT_RECORDING_CONFIG, (),
                 lambda: _stack(np.int64(EXECUTOR_BASE + 0x5))))
    add(Register("PollingOmnibusBlockConfig", L.POLLING_OMNIBUS_BLOCK_CONFIG, (),
                 lambda: _span(np.int64(POLLING_ADDRESS), 3)))
    add(Register("InstructionTimeoutConfig", L.INSTRUCTION_TIMEOUT_CONFIG, (),
                 lambda: _stack(np.int64(INSTRUCTION_TIMEOUT))))
    add(Register("Timer", L.TIMER_VALUE, (), lambda: _stack(np.int64(TIMER_READOUT)),
                 access=RO, behaviour="timer"))
    return r


REGISTERS: dict[str, Register] = {reg.name: reg for reg in _registers()}

def crossbar_node_enum(output: int, input: int) -> int:
    """Enum of the crossbar node (output, input) in halco's sparse grid; ValueError if absent."""
    if 0 <= input < 8:
        outs = (input % 4, 4 + input % 4, 8 + input % 4)
        if output in outs:
            return 3 * input + outs.index(output)
    elif 8 <= input < 12:
        i = input - 8
        if 0 <= output < 8:
            return 24 + 9 * i + output
        if output == 8 + i:
            return 24 + 9 * i + 8
    elif 12 <= input < 20:
        k = input - 12
        if output == k:
            return 60 + 2 * k
        if output == 8 + k % 4:
            return 60 + 2 * k + 1
    raise ValueError(f"there is no crossbar node from input {input} to output {output}")


def crossbar_node_from_enum(enum: int) -> tuple[int, int]:
    """(output, input) of a crossbar node enum 0..75."""
    if not 0 <= enum < CROSSBAR_NODES:
        raise ValueError(f"crossbar node enum must be in 0..{CROSSBAR_NODES - 1}, got {enum}")
    if enum < 24:
        n, k = divmod(enum, 3)
        return ((n % 4, 4 + n % 4, 8 + n % 4)[k], n)
    if enum < 60:
        i, out = divmod(enum - 24, 9)
        return (out if out < 8 else 8 + i, 8 + i)
    k, j = divmod(enum - 60, 2)
    return ((k, 8 + k % 4)[j], 12 + k)
