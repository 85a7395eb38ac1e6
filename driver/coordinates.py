"""halco-like coordinates: small typed, range-checked values naming where a container lives.

A coordinate only says *where*; the container says *what*. Register-backed coordinates name
their `Register` in `hwlayer.regmap.registers.REGISTERS` (`register_name`) and give the values of
its index dimensions (`index()`); the container turns that into addresses through the
register's vectorised address function, so no address is written down in the driver. Block
coordinates (a whole synapse matrix, a CADC sample row, a CapMem block, a PPU memory range)
return index *arrays* from `index()`, shaped like the grid of register instances they cover.

Every coordinate is a frozen, ordered, hashable dataclass: usable as a dict key (shadows,
cocolist squashing) and sortable within its type. Fields are ints; numpy ints are accepted and
stored as Python ints, bools and other types raise TypeError, out-of-range values ValueError.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hwlayer.regmap import registers as R
from hwlayer.regmap.registers import REGISTERS, Register

HEMISPHERES = 2
CAPMEM_BLOCKS = 4
CHANNEL_TYPES = 2  # causal = 0, acausal = 1
READOUT_TYPES = 2  # trigger_read = 0, buffered = 1
ENTRIES_PER_QUAD = R.ENTRIES_PER_QUAD
_ROWS = np.arange(R.SYNAPSE_ROWS)
_QUADS = np.arange(R.QUADS)


def dim(size: int | None = None, *, minimum: int = 0, maximum: int | None = None,
        default: Any = dataclasses.MISSING) -> Any:
    """A coordinate field with range minimum..maximum (or 0..size-1).

    Without a size or maximum the range comes from the register dimension of the same name.
    """
    if size is not None:
        maximum = size - 1
    return field(default=default, metadata={"range": (minimum, maximum)})


# --- column <-> (quad, entry) permutation (registers.QUAD_ENTRY_COLUMN) ---------------------

def _check_array(name: str, v: Any, lo: int, hi: int) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got {a.dtype}")
    if a.size and (a.min() < lo or a.max() > hi):
        bad = a[(a < lo) | (a > hi)].ravel()[0]
        raise ValueError(f"{name} must be in {lo}..{hi}, got {int(bad)}")
    return a.astype(np.int64)


def column_to_quad_entry(columns: Any) -> tuple[np.ndarray, np.ndarray]:
    """(quads, entries) of synapse columns: quads 0..31 hold the even columns, 32..63 the odd."""
    c = _check_array("column", columns, 0, R.COLUMNS - 1)
    return R.COLUMN_QUAD[c], R.COLUMN_ENTRY[c]


def quad_entry_to_column(quads: Any, entries: Any) -> np.ndarray:
    """Synapse columns of (quad, entry) pairs; the inverse of `column_to_quad_entry`."""
    q = _check_array("quad", quads, 0, R.QUADS - 1)
    e = _check_array("entry", entries, 0, ENTRIES_PER_QUAD - 1)
    return R.QUAD_ENTRY_COLUMN[q, e]


# (64, 4) column of every (quad, entry); and, per column, its flat quad*4+entry position.
QUAD_ENTRY_COLUMNS = R.QUAD_ENTRY_COLUMN
COLUMN_QUAD_ENTRY = np.argsort(QUAD_ENTRY_COLUMNS.ravel())


# --- base classes ----------------------------------------------------------------------------

class _DefaultContainer:
    """Class attribute resolving a coordinate type's default container lazily (no import cycle)."""

    def __get__(self, obj: Any, cls: type) -> type | None:
        from .containers import DEFAULT_CONTAINER

        return DEFAULT_CONTAINER.get(cls)


@dataclass(frozen=True, order=True)
class Coordinate:
    """Base of all coordinates: range checks from the fields' metadata or the register dims."""

    REGISTER: ClassVar[str | None] = None
    default_container = _DefaultContainer()  # not annotated: dataclass must not evaluate it

    @classmethod
    def _ranges(cls) -> dict[str, tuple[int, int]]:
        if "_RANGES" not in cls.__dict__:
            dims = dict(REGISTERS[cls.REGISTER].dims) if cls.REGISTER else {}
            ranges = {}
            for f in dataclasses.fields(cls):
                lo, hi = f.metadata.get("range", (0, None))
                if hi is None:
                    if f.name not in dims:
                        raise TypeError(f"{cls.__name__}.{f.name} has no range")
                    hi = dims[f.name] - 1
                ranges[f.name] = (lo, hi)
            cls._RANGES = ranges
        return cls._RANGES

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f, (lo, hi) in self._ranges().items():
            v = getattr(self, f)
            if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
                raise TypeError(f"{name}: {f} must be an int, got {type(v).__name__} {v!r}")
            v = int(v)
            if not lo <= v <= hi:
                raise ValueError(f"{name}: {f} must be in {lo}..{hi}, got {v}")
            object.__setattr__(self, f, v)
        self._check()

    def _check(self) -> None:
        """Hook for checks across fields."""

    @property
    def register_name(self) -> str:
        if self.REGISTER is None:
            raise TypeError(f"{type(self).__name__} is not backed by a chip register")
        return self.REGISTER

    @property
    def register(self) -> Register:
        """The register (layout, dims, address function) this coordinate indexes."""
        return REGISTERS[self.register_name]

    def index(self) -> dict[str, Any]:
        """Values of the register's index dimensions (ints; arrays for block coordinates)."""
        return {d: getattr(self, d) for d, _ in self.register.dims}


def _coord(cls: type) -> type:
    """Make a coordinate class a frozen, ordered dataclass."""
    return dataclass(frozen=True, order=True)(cls)


# --- synapse array ---------------------------------------------------------------------------

class _Quad:
    """Mixin of coordinates with a `quad` field: the columns its four entries hold."""

    quad: int

    @property
    def columns(self) -> tuple[int, ...]:
        """The synapse/neuron columns of entries 0..3."""
        return tuple(int(c) for c in QUAD_ENTRY_COLUMNS[self.quad])


@_coord
class _QuadCoordinate(Coordinate, _Quad):
    hemisphere: int = dim()
    row: int = dim()
    quad: int = dim()

    REGISTER = "SynapseQuad"


@_coord
class SynapseQuadOnDLS(_QuadCoordinate):
    """Four synapses of one row, all views (raw view: weight, label, calibration bits)."""

    REGISTER = "SynapseQuad"


@_coord
class SynapseWeightQuadOnDLS(_QuadCoordinate):
    """The weight view of a synapse quad (one word)."""

    REGISTER = "SynapseWeightQuad"


@_coord
class SynapseLabelQuadOnDLS(_QuadCoordinate):
    """The label view of a synapse quad (one word)."""

    REGISTER = "SynapseLabelQuad"


@_coord
class SynapseCorrelationCalibQuadOnDLS(_QuadCoordinate):
    """The correlation-calibration view of a synapse quad (time/amp calib bits)."""

    REGISTER = "SynapseCorrelationCalibQuad"


@_coord
class CommonSynramConfigOnDLS(Coordinate):
    REGISTER = "CommonSynramConfig"
    hemisphere: int = dim()


@_coord
class ColumnCurrentQuadOnDLS(Coordinate, _Quad):
    REGISTER = "ColumnCurrentQuad"
    hemisphere: int = dim()
    quad: int = dim()


@_coord
class ColumnCorrelationQuadOnDLS(Coordinate, _Quad):
    REGISTER = "ColumnCorrelationQuad"
    hemisphere: int = dim()
    quad: int = dim()


@_coord
class SynramOnDLS(Coordinate):
    """A whole synapse matrix (256 x 256), all views: default container `SynapseMatrix`."""

    REGISTER = "SynapseQuad"
    hemisphere: int = dim()

    def index(self) -> dict[str, Any]:
        return {"hemisphere": self.hemisphere, "row": _ROWS[:, None], "quad": _QUADS[None, :]}


@_coord
class SynapseWeightMatrixOnDLS(SynramOnDLS):
    """A whole synapse matrix through the weight view: default container `SynapseWeightMatrix`."""

    REGISTER = "SynapseWeightQuad"


@_coord
class SynapseLabelMatrixOnDLS(SynramOnDLS):
    """A whole synapse matrix through the label view: default container `SynapseLabelMatrix`."""

    REGISTER = "SynapseLabelQuad"


@_coord
class SynapseRowOnDLS(Coordinate):
    """One synapse row through the weight view: default container `SynapseWeightRow`."""

    REGISTER = "SynapseWeightQuad"
    hemisphere: int = dim()
    row: int = dim()

    def index(self) -> dict[str, Any]:
        return {"hemisphere": self.hemisphere, "row": self.row, "quad": _QUADS}


@_coord
class SynapseLabelRowOnDLS(SynapseRowOnDLS):
    """One synapse row through the label view: default container `SynapseLabelRow`."""

    REGISTER = "SynapseLabelQuad"


# --- synapse drivers, PADI, crossbar ---------------------------------------------------------

@_coord
class SynapseDriverOnDLS(Coordinate):
    """One synapse driver; it drives rows 2d (bottom) and 2d+1 (top) of its hemisphere."""

    REGISTER = "SynapseDriverConfig"
    hemisphere: int = dim()
    driver: int = dim()

    @property
    def enum(self) -> int:
        return self.hemisphere * R.DRIVERS + self.driver

    @property
    def padi_bus(self) -> int:
        """The PADI bus (0..3 within the hemisphere) the driver listens to."""
        return self.driver % 4

    @property
    def row_select(self) -> int:
        """The 5-bit row-select address the driver matches (label bits 10..6)."""
        return self.driver // 4

    @property
    def rows(self) -> tuple[int, int]:
        """(bottom, top) synapse rows = (2d, 2d+1) (docs/register-map.md)."""
        return (2 * self.driver, 2 * self.driver + 1)


@_coord
class PADIEventOnDLS(Coordinate):
    REGISTER = "PADIEvent"
    hemisphere: int = dim()


@_coord
class CommonPADIBusConfigOnDLS(Coordinate):
    REGISTER = "CommonPADIBusConfig"
    hemisphere: int = dim()


@_coord
class CommonSTPConfigOnDLS(Coordinate):
    REGISTER = "CommonSTPConfig"
    hemisphere: int = dim()


@_coord
class CrossbarNodeOnDLS(Coordinate):
    """A crossbar node (output, input); only the 76 nodes of halco's sparse grid exist."""

    REGISTER = "CrossbarNode"
    output: int = dim(R.CROSSBAR_OUTPUTS)
    input: int = dim(R.CROSSBAR_INPUTS)

    def _check(self) -> None:
        try:
            R.crossbar_node_enum(self.output, self.input)
        except ValueError as e:
            raise ValueError(f"CrossbarNodeOnDLS: {e}") from None

    @property
    def enum(self) -> int:
        return R.crossbar_node_enum(self.output, self.input)

    @classmethod
    def from_enum(cls, enum: int) -> CrossbarNodeOnDLS:
        output, input = R.crossbar_node_from_enum(int(enum))
        return cls(output=output, input=input)

    def index(self) -> dict[str, Any]:
        return {"node": self.enum}


@_coord
class CrossbarOutputConfigOnDLS(Coordinate):
    REGISTER = "CrossbarOutputConfig"


@_coord
class CrossbarInputDropCounterOnDLS(Coordinate):
    REGISTER = "CrossbarInputDropCounter"
    input: int = dim()


@_coord
class CrossbarOutputEventCounterOnDLS(Coordinate):
    REGISTER = "CrossbarOutputEventCounter"
    output: int = dim()


# --- neurons ---------------------------------------------------------------------------------

@_coord
class NeuronConfigOnDLS(Coordinate):
    REGISTER = "NeuronConfig"
    hemisphere: int = dim()
    column: int = dim()

    @property
    def enum(self) -> int:
        """AtomicNeuronOnDLS enum = hemisphere * 256 + column."""
        return self.hemisphere * R.COLUMNS + self.column

    @classmethod
    def from_enum(cls, enum: int) -> NeuronConfigOnDLS:
        if not 0 <= int(enum) < HEMISPHERES * R.COLUMNS:
            raise ValueError(f"NeuronConfigOnDLS: enum must be in 0..511, got {enum}")
        return cls(hemisphere=int(enum) // R.COLUMNS, column=int(enum) % R.COLUMNS)


@_coord
class NeuronResetQuadOnDLS(Coordinate, _Quad):
    REGISTER = "NeuronResetQuad"
    hemisphere: int = dim()
    quad: int = dim()


@_coord
class NeuronBackendConfigOnDLS(Coordinate):
    REGISTER = "NeuronBackendConfig"
    hemisphere: int = dim()
    column: int = dim()


@_coord
class CommonNeuronBackendConfigOnDLS(Coordinate):
    """West (0, columns 0..127 of both hemispheres) or east (1) backend block."""

    REGISTER = "CommonNeuronBackendConfig"
    block: int = dim()


# --- CADC ------------------------------------------------------------------------------------

def _cadc_register(readout_type: int) -> str:
    return ("CADCSampleQuadTriggered", "CADCSampleQuadBuffered")[readout_type]


@_coord
class CADCConfigOnDLS(Coordinate):
    REGISTER = "CADCConfig"
    hemisphere: int = dim()


@_coord
class CADCChannelConfigOnDLS(Coordinate):
    """A CADC channel: channel_type 0 causal / 1 acausal."""

    REGISTER = "CADCChannelConfig"
    hemisphere: int = dim()
    channel_type: int = dim()
    column: int = dim()


@_coord
class CADCSampleQuadOnDLS(Coordinate, _Quad):
    """Four CADC samples; readout_type 0 = trigger_read (converts now), 1 = buffered."""

    REGISTER = "CADCSampleQuadTriggered"
    hemisphere: int = dim()
    readout_type: int = dim(READOUT_TYPES)
    channel_type: int = dim()
    row: int = dim()
    quad: int = dim()

    @property
    def register_name(self) -> str:
        return _cadc_register(self.readout_type)


@_coord
class CADCSampleRowOnDLS(Coordinate):
    """The causal and acausal samples of one CADC row (128 quad reads)."""

    REGISTER = "CADCSampleQuadTriggered"
    hemisphere: int = dim()
    row: int = dim(default=0)
    readout_type: int = dim(READOUT_TYPES, default=0)

    @property
    def register_name(self) -> str:
        return _cadc_register(self.readout_type)

    def index(self) -> dict[str, Any]:
        return {"hemisphere": self.hemisphere, "channel_type": np.arange(CHANNEL_TYPES)[:, None],
                "row": self.row, "quad": _QUADS[None, :]}


@_coord
class CADCDebugLineConfigOnDLS(Coordinate):
    REGISTER = "CADCDebugLineConfig"
    hemisphere: int = dim()


@_coord
class CommonCorrelationConfigOnDLS(Coordinate):
    REGISTER = "CommonCorrelationConfig"
    hemisphere: int = dim()


# --- CapMem ----------------------------------------------------------------------------------

@_coord
class CapMemCellOnDLS(Coordinate):
    """A CapMem cell: block 0..3 (nw, ne, sw, se), column 0..129, row 0..23."""

    REGISTER = "CapMemCell"
    block: int = dim()
    column: int = dim()
    row: int = dim()


@_coord
class CapMemBlockConfigOnDLS(Coordinate):
    REGISTER = "CapMemBlockConfig"
    block: int = dim()


@_coord
class CapMemBlockOnDLS(Coordinate):
    """All 130 x 24 cells of a CapMem block: default container `CapMemBlock`."""

    REGISTER = "CapMemCell"
    block: int = dim(CAPMEM_BLOCKS)

    def index(self) -> dict[str, Any]:
        return {"block": self.block, "column": np.arange(R.CAPMEM_COLUMNS)[:, None],
                "row": np.arange(R.CAPMEM_ROWS)[None, :]}


# --- PPU -------------------------------------------------------------------------------------

@_coord
class PPUMemoryWordOnDLS(Coordinate):
    REGISTER = "PPUMemoryWord"
    ppu: int = dim()
    word: int = dim()


@_coord
class PPUMemoryBlockOnDLS(Coordinate):
    """`size` consecutive PPU memory words from `start`."""

    REGISTER = "PPUMemoryWord"
    ppu: int = dim(HEMISPHERES)
    start: int = dim(R.PPU_MEMORY_WORDS)
    size: int = dim(minimum=1, maximum=R.PPU_MEMORY_WORDS)

    def _check(self) -> None:
        if self.start + self.size > R.PPU_MEMORY_WORDS:
            raise ValueError(f"PPUMemoryBlockOnDLS: start + size must be <= {R.PPU_MEMORY_WORDS}"
                             f", got {self.start} + {self.size}")

    def index(self) -> dict[str, Any]:
        return {"ppu": self.ppu, "word": np.arange(self.start, self.start + self.size)}


@_coord
class PPUMemoryOnDLS(Coordinate):
    """The whole 4096-word PPU memory."""

    REGISTER = "PPUMemoryWord"
    ppu: int = dim(HEMISPHERES)

    def index(self) -> dict[str, Any]:
        return {"ppu": self.ppu, "word": np.arange(R.PPU_MEMORY_WORDS)}


@_coord
class PPUControlRegisterOnDLS(Coordinate):
    REGISTER = "PPUControlRegister"
    ppu: int = dim()


@_coord
class PPUStatusRegisterOnDLS(Coordinate):
    REGISTER = "PPUStatusRegister"
    ppu: int = dim()


# --- MADC and FPGA executor registers ----------------------------------------------------------

@_coord
class MADCConfigOnDLS(Coordinate):
    REGISTER = "MADCConfig"


@_coord
class MADCControlOnDLS(Coordinate):
    REGISTER = "MADCControl"


@_coord
class EventRecordingConfigOnFPGA(Coordinate):
    REGISTER = "EventRecordingConfig"


@_coord
class PollingOmnibusBlockConfigOnFPGA(Coordinate):
    REGISTER = "PollingOmnibusBlockConfig"


@_coord
class InstructionTimeoutConfigOnFPGA(Coordinate):
    REGISTER = "InstructionTimeoutConfig"


@_coord
class FPGADeviceDNAOnFPGA(Coordinate):
    REGISTER = "FPGADeviceDNA"


@_coord
class TimerOnDLS(Coordinate):
    """The FPGA timer: written with `Timer()` (reset to 0), read via its executor register."""

    REGISTER = "Timer"


# --- FPGA instructions without a register ------------------------------------------------------

@_coord
class OmnibusAddress(Coordinate):
    """A raw 32-bit omnibus word address (chip below 0x8000_0000, FPGA above)."""

    address: int = dim(minimum=0, maximum=2**32 - 1)


@_coord
class BarrierOnFPGA(Coordinate):
    """Where `Barrier` conditions block."""


@_coord
class PollingOmnibusBlockOnFPGA(Coordinate):
    """Where `PollingOmnibusBlock` conditions block (target set by PollingOmnibusBlockConfig)."""


@_coord
class SystimeSyncOnFPGA(Coordinate):
    pass


@_coord
class ResetChipOnDLS(Coordinate):
    pass


@_coord
class NullPayloadReadableOnFPGA(Coordinate):
    """A read without data: its loopback tick marks a point in the response stream."""


@_coord
class JTAGIdCodeOnDLS(Coordinate):
    pass


@_coord
class ResetJTAGTapOnDLS(Coordinate):
    pass


@_coord
class JTAGClockScalerOnDLS(Coordinate):
    pass


@_coord
class SpikePackToChipOnDLS(Coordinate):
    pass


def all_coordinate_types() -> list[type]:
    """Every public coordinate class defined here."""
    return [c for n, c in globals().items() if isinstance(c, type) and issubclass(c, Coordinate)
            and c is not Coordinate and not n.startswith("_")]
