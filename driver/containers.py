"""haldls-like containers: typed, range-checked register contents that encode to FPGA words.

Every container speaks one protocol, the one the program builder uses:

* `coordinate_type` (the coordinate class it lives at), `readable`, `writable`;
* `write_instructions(coord) -> uint64 words`;
* `read_instructions(coord) -> (words, queue, n_responses)` with queue in
  {"omnibus", "jtag", "loopback"};
* `from_responses(coord, payloads) -> container` from that queue's `n_responses` payloads.

`BlockUntil` conditions (`Timer.Value`, `Barrier`, `PollingOmnibusBlock`) give
`block_instructions(coord)` instead.

Register-backed containers are one generic mechanism (`RegisterContainer`): fields, defaults,
ranges, inversions and permutations all come from the register's `Layout`, addresses from the
register's address function (`hwlayer.regmap.registers`). Block containers (`BlockContainer`)
encode whole arrays (a synapse matrix, a CapMem block, PPU memory) through the same codec in
one vectorised pass. The FPGA containers emit timing/system/JTAG/event instructions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np

from hwlayer.regmap import instructions as isa
from hwlayer.regmap.layout import Field, Layout
from hwlayer.regmap.registers import REGISTERS, RO, WO

from . import coordinates as co
from . import instructions as ins

_WORD_MASK = np.uint64(0xFFFFFFFF)


# --- protocol --------------------------------------------------------------------------------

class Container:
    """Base of everything written with `builder.write` / read with `builder.read`."""

    coordinate_type: ClassVar[type]
    readable: ClassVar[bool] = True
    writable: ClassVar[bool] = True

    @classmethod
    def _check_coordinate(cls, coord: Any) -> None:
        if type(coord) is not cls.coordinate_type:
            raise TypeError(f"{cls.__name__} lives at {cls.coordinate_type.__name__}, "
                            f"got a {type(coord).__name__}")

    @classmethod
    def _check_readable(cls) -> None:
        if not cls.readable:
            raise TypeError(f"{cls.__name__} is write-only: it cannot be read")

    def write_instructions(self, coord: Any) -> np.ndarray:
        """uint64 to-FPGA words writing this container at `coord`."""
        if not self.writable:
            raise TypeError(f"{type(self).__name__} is read-only: it cannot be written")
        self._check_coordinate(coord)
        return self._write(coord)

    @classmethod
    def read_instructions(cls, coord: Any) -> tuple[np.ndarray, str, int]:
        """(words, response queue, number of responses) of a read at `coord`."""
        cls._check_readable()
        cls._check_coordinate(coord)
        return cls._read(coord)

    @classmethod
    def from_responses(cls, coord: Any, payloads: np.ndarray) -> Container:
        """The container decoded from the response payloads of a read at `coord`."""
        cls._check_readable()
        cls._check_coordinate(coord)
        p = np.asarray(payloads, dtype=np.uint64).ravel()
        n = cls._n_responses(coord)
        if p.size != n:
            raise ValueError(f"{cls.__name__} at {coord} decodes {n} responses, got {p.size}")
        return cls._decode_responses(coord, p)

    # hooks
    def _write(self, coord: Any) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def _read(cls, coord: Any) -> tuple[np.ndarray, str, int]:
        raise NotImplementedError

    @classmethod
    def _n_responses(cls, coord: Any) -> int:
        return cls._read(coord)[2]

    @classmethod
    def _decode_responses(cls, coord: Any, payloads: np.ndarray) -> Container:
        raise NotImplementedError


class BlockUntil:
    """A condition for `builder.block_until(coord, condition)`: the FPGA waits until it holds."""

    coordinate_type: ClassVar[type]

    def block_instructions(self, coord: Any) -> np.ndarray:
        if type(coord) is not self.coordinate_type:
            raise TypeError(f"{type(self).__name__} blocks at {self.coordinate_type.__name__}, "
                            f"got a {type(coord).__name__}")
        return self._block()

    def _block(self) -> np.ndarray:
        raise NotImplementedError


def _int(owner: str, name: str, v: Any, lo: int, hi: int) -> int:
    """A checked int field value (numpy ints accepted, bools and others refused)."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
        raise TypeError(f"{owner}: field '{name}' must be an int, got {type(v).__name__} {v!r}")
    if not lo <= int(v) <= hi:
        raise ValueError(f"{owner}: field '{name}' = {int(v)} is out of range {lo}..{hi}")
    return int(v)


def _bool(owner: str, name: str, v: Any) -> bool:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    return bool(_int(owner, name, v, 0, 1))


# --- register-backed containers ----------------------------------------------------------------

class RegisterContainer(Container):
    """A container whose fields are exactly a register layout's fields.

    Subclasses declare `REGISTER` (a name in REGISTERS), `coordinate_type` and, for fields with
    named values, `ENUMS`. Scalar fields are ints (1-bit fields bools, enum fields IntEnums),
    array fields tuples of `entries` values (a scalar is broadcast). Values are immutable; use
    `replace(**changes)`.
    """

    REGISTER: ClassVar[str]
    ENUMS: ClassVar[dict[str, type[IntEnum]]] = {}
    layout: ClassVar[Layout]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "REGISTER" not in cls.__dict__:
            return
        reg = REGISTERS[cls.REGISTER]
        cls.layout = reg.layout
        cls.readable = reg.access != WO
        cls.writable = reg.access != RO
        clash = [f.name for f in reg.layout.fields if hasattr(cls, f.name)]
        coord_layout = REGISTERS[cls.coordinate_type.REGISTER].layout
        if clash or coord_layout is not reg.layout:
            raise TypeError(f"{cls.__name__}: field names {clash} clash with attributes, or "
                            f"{cls.coordinate_type.__name__} is not a {cls.REGISTER}")

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.layout.field_names)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}; "
                            f"fields: {', '.join(self.layout.field_names)}")
        for f in self.layout.fields:
            v = values.get(f.name, f.default)
            object.__setattr__(self, f.name, self._normalize(f, v))

    @classmethod
    def _normalize(cls, f: Field, v: Any) -> Any:
        if f.entries == 1:
            return cls._scalar(f, v)
        if np.ndim(v) == 0 and not isinstance(v, str | bytes):
            return (cls._scalar(f, v),) * f.entries
        items = list(v)
        if len(items) != f.entries:
            raise ValueError(f"{cls.__name__}: field '{f.name}' needs {f.entries} entries, "
                             f"got {len(items)}")
        return tuple(cls._scalar(f, x) for x in items)

    @classmethod
    def _scalar(cls, f: Field, v: Any) -> Any:
        enum = cls.ENUMS.get(f.name)
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v[()]
        if enum is not None and isinstance(v, str):
            if v not in enum.__members__:
                raise ValueError(f"{cls.__name__}: field '{f.name}' must be one of "
                                 f"{list(enum.__members__)}, got {v!r}")
            v = enum[v]
        if isinstance(v, bool | np.bool_) and f.width == 1 and enum is None:
            return bool(v)
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
            raise TypeError(f"{cls.__name__}: field '{f.name}' must be an int, "
                            f"got {type(v).__name__} {v!r}")
        v = int(v)
        if not f.minimum <= v <= f.max_value:
            try:
                f.check(v)
            except ValueError as e:
                raise ValueError(f"{cls.__name__}: {e}") from None
        if enum is not None:
            return enum(v)
        return bool(v) if f.width == 1 else v

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def replace(self, **changes: Any) -> RegisterContainer:
        """A copy with some fields changed (and checked)."""
        return type(self)(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Field values as plain Python data (ints, bools, tuples); `cls(**d)` rebuilds it."""
        def plain(v: Any) -> Any:
            return v if isinstance(v, bool) else int(v)

        out = {}
        for f in self.layout.fields:
            v = getattr(self, f.name)
            out[f.name] = tuple(plain(x) for x in v) if f.entries > 1 else plain(v)
        return out

    def _values(self) -> tuple:
        return tuple(getattr(self, n) for n in self.layout.field_names)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        """Fields that differ from their defaults (the rest are defaults, so this evaluates)."""
        default = type(self)()._values() if self.layout.fields else ()
        parts = []
        for f, v, d in zip(self.layout.fields, self._values(), default, strict=True):
            if v != d:
                parts.append(f"{f.name}={_show(v)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # codec
    def encode(self) -> np.ndarray:
        """The register's words (n_words,) as uint32."""
        return self.layout.encode(self.to_dict())

    @classmethod
    def decode(cls, words: np.ndarray) -> RegisterContainer:
        """The container from its (n_words,) words; bits outside the fields are ignored."""
        w = np.asarray(words).astype(np.uint32).reshape(cls.layout.n_words)
        vals = cls.layout.decode(w)
        return cls(**{k: (tuple(int(x) for x in v) if np.ndim(v) else int(v))
                      for k, v in vals.items()})

    @classmethod
    def addresses(cls, coord: Any) -> np.ndarray:
        """Omnibus word addresses (n_words,) of the register at `coord`."""
        cls._check_coordinate(coord)
        return coord.register.addresses(**coord.index()).ravel().astype(np.uint32)

    # protocol hooks
    def _write(self, coord: Any) -> np.ndarray:
        return ins.omnibus_write(self.addresses(coord), self.encode())

    @classmethod
    def _read(cls, coord: Any) -> tuple[np.ndarray, str, int]:
        return ins.omnibus_read(cls.addresses(coord)), "omnibus", cls.layout.n_words

    @classmethod
    def _n_responses(cls, coord: Any) -> int:
        return cls.layout.n_words

    @classmethod
    def _decode_responses(cls, coord: Any, payloads: np.ndarray) -> RegisterContainer:
        return cls.decode(payloads & _WORD_MASK)


def _show(v: Any) -> str:
    if isinstance(v, IntEnum):
        return f"{type(v).__qualname__}.{v.name}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_show(x) for x in v) + ")"
    return repr(v)


class SynapseQuad(RegisterContainer):
    """Four synapses, all bits (raw view): weights, labels, time/amp calibration."""

    REGISTER = "SynapseQuad"
    coordinate_type = co.SynapseQuadOnDLS


class SynapseWeightQuad(RegisterContainer):
    REGISTER = "SynapseWeightQuad"
    coordinate_type = co.SynapseWeightQuadOnDLS


class SynapseLabelQuad(RegisterContainer):
    REGISTER = "SynapseLabelQuad"
    coordinate_type = co.SynapseLabelQuadOnDLS


class SynapseCorrelationCalibQuad(RegisterContainer):
    REGISTER = "SynapseCorrelationCalibQuad"
    coordinate_type = co.SynapseCorrelationCalibQuadOnDLS


class CommonSynramConfig(RegisterContainer):
    REGISTER = "CommonSynramConfig"
    coordinate_type = co.CommonSynramConfigOnDLS


class ColumnCurrentQuad(RegisterContainer):
    REGISTER = "ColumnCurrentQuad"
    coordinate_type = co.ColumnCurrentQuadOnDLS


class ColumnCorrelationQuad(RegisterContainer):
    REGISTER = "ColumnCorrelationQuad"
    coordinate_type = co.ColumnCorrelationQuadOnDLS


class SynapseDriverConfig(RegisterContainer):
    """One synapse driver; row modes enable the excitatory/inhibitory lines of its two rows."""

    class RowMode(IntEnum):
        disabled = 0
        excitatory = 1
        inhibitory = 2
        excitatory_and_inhibitory = 3

    REGISTER = "SynapseDriverConfig"
    coordinate_type = co.SynapseDriverOnDLS
    ENUMS = {"row_mode_top": RowMode, "row_mode_bottom": RowMode}


class PADIEvent(RegisterContainer):
    REGISTER = "PADIEvent"
    coordinate_type = co.PADIEventOnDLS


class CommonPADIBusConfig(RegisterContainer):
    REGISTER = "CommonPADIBusConfig"
    coordinate_type = co.CommonPADIBusConfigOnDLS


class CommonSTPConfig(RegisterContainer):
    REGISTER = "CommonSTPConfig"
    coordinate_type = co.CommonSTPConfigOnDLS


class CrossbarNode(RegisterContainer):
    """Routes an event iff (label & mask) == target; `CrossbarNode.drop_all` routes nothing."""

    REGISTER = "CrossbarNode"
    coordinate_type = co.CrossbarNodeOnDLS
    drop_all: ClassVar[CrossbarNode]


CrossbarNode.drop_all = CrossbarNode(mask=0, target=1)


class CrossbarOutputConfig(RegisterContainer):
    REGISTER = "CrossbarOutputConfig"
    coordinate_type = co.CrossbarOutputConfigOnDLS


class CrossbarInputDropCounter(RegisterContainer):
    REGISTER = "CrossbarInputDropCounter"
    coordinate_type = co.CrossbarInputDropCounterOnDLS


class CrossbarOutputEventCounter(RegisterContainer):
    REGISTER = "CrossbarOutputEventCounter"
    coordinate_type = co.CrossbarOutputEventCounterOnDLS


class NeuronConfig(RegisterContainer):
    """Analog neuron switches; `readout_source` selects what the CADC/MADC see."""

    class ReadoutSource(IntEnum):
        membrane = 0
        exc_synin = 1
        inh_synin = 2
        adaptation = 3

    REGISTER = "NeuronConfig"
    coordinate_type = co.NeuronConfigOnDLS
    ENUMS = {"readout_source": ReadoutSource}


class NeuronResetQuad(RegisterContainer):
    """Write-only trigger: resets the membranes of the quad's four neurons."""

    REGISTER = "NeuronResetQuad"
    coordinate_type = co.NeuronResetQuadOnDLS


class NeuronBackendConfig(RegisterContainer):
    REGISTER = "NeuronBackendConfig"
    coordinate_type = co.NeuronBackendConfigOnDLS


class CommonNeuronBackendConfig(RegisterContainer):
    REGISTER = "CommonNeuronBackendConfig"
    coordinate_type = co.CommonNeuronBackendConfigOnDLS


class CADCConfig(RegisterContainer):
    REGISTER = "CADCConfig"
    coordinate_type = co.CADCConfigOnDLS


class CADCChannelConfig(RegisterContainer):
    """Per-channel digital offset -128..127 added to the CADC result."""

    REGISTER = "CADCChannelConfig"
    coordinate_type = co.CADCChannelConfigOnDLS


class CADCSampleQuad(RegisterContainer):
    """Read-only: four 8-bit CADC samples (triggered or buffered, by the coordinate)."""

    REGISTER = "CADCSampleQuadTriggered"
    coordinate_type = co.CADCSampleQuadOnDLS


class CADCDebugLineConfig(RegisterContainer):
    REGISTER = "CADCDebugLineConfig"
    coordinate_type = co.CADCDebugLineConfigOnDLS


class CommonCorrelationConfig(RegisterContainer):
    REGISTER = "CommonCorrelationConfig"
    coordinate_type = co.CommonCorrelationConfigOnDLS


class CapMemCell(RegisterContainer):
    """One analog CapMem value 0..1022; `CapMemCell.DisableRefresh` (1023) stops refreshing."""

    REGISTER = "CapMemCell"
    coordinate_type = co.CapMemCellOnDLS
    DisableRefresh: ClassVar[int] = 1023


class CapMemBlockConfig(RegisterContainer):
    REGISTER = "CapMemBlockConfig"
    coordinate_type = co.CapMemBlockConfigOnDLS


class PPUMemoryWord(RegisterContainer):
    REGISTER = "PPUMemoryWord"
    coordinate_type = co.PPUMemoryWordOnDLS


class PPUControlRegister(RegisterContainer):
    REGISTER = "PPUControlRegister"
    coordinate_type = co.PPUControlRegisterOnDLS


class PPUStatusRegister(RegisterContainer):
    REGISTER = "PPUStatusRegister"
    coordinate_type = co.PPUStatusRegisterOnDLS


class MADCConfig(RegisterContainer):
    REGISTER = "MADCConfig"
    coordinate_type = co.MADCConfigOnDLS


class MADCControl(RegisterContainer):
    REGISTER = "MADCControl"
    coordinate_type = co.MADCControlOnDLS


class EventRecordingConfig(RegisterContainer):
    REGISTER = "EventRecordingConfig"
    coordinate_type = co.EventRecordingConfigOnFPGA


class PollingOmnibusBlockConfig(RegisterContainer):
    """What `PollingOmnibusBlock` polls: `*address & mask` against `target`."""

    REGISTER = "PollingOmnibusBlockConfig"
    coordinate_type = co.PollingOmnibusBlockConfigOnFPGA


class InstructionTimeoutConfig(RegisterContainer):
    REGISTER = "InstructionTimeoutConfig"
    coordinate_type = co.InstructionTimeoutConfigOnFPGA


class FPGADeviceDNA(RegisterContainer):
    REGISTER = "FPGADeviceDNA"
    coordinate_type = co.FPGADeviceDNAOnFPGA


# --- block containers ---------------------------------------------------------------------------

class BlockContainer(Container):
    """Arrays of register values at a block coordinate, encoded in one vectorised pass.

    The coordinate's `index()` gives a grid of register instances; `FIELDS` maps the
    container's arrays to layout fields. With `QUAD`, the grid's last axis is the 64 quads and
    the arrays' last axis the 256 columns (column <-> (quad, entry) permutation applied).
    Arrays are read-only int64 copies.
    """

    REGISTER: ClassVar[str]
    FIELDS: ClassVar[dict[str, str]]
    QUAD: ClassVar[bool] = False
    SHAPE: ClassVar[tuple[int, ...] | None] = None  # None: fixed by the coordinate only
    layout: ClassVar[Layout]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "REGISTER" in cls.__dict__:
            reg = REGISTERS[cls.REGISTER]
            cls.layout = reg.layout
            cls.readable = reg.access != WO
            cls.writable = reg.access != RO

    def __init__(self, **arrays: Any) -> None:
        name = type(self).__name__
        unknown = set(arrays) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{name} has no field(s) {sorted(unknown)}; "
                            f"fields: {', '.join(self.FIELDS)}")
        for k, lf in self.FIELDS.items():
            f = self.layout[lf]
            v = arrays.get(k)
            if v is None:
                if self.SHAPE is None:
                    raise TypeError(f"{name} needs the field '{k}'")
                v = np.full(self.SHAPE, f.default, dtype=np.int64)
            a = np.array(v)
            if a.dtype.kind not in "iub":
                raise TypeError(f"{name}: field '{k}' must be integers, got {a.dtype}")
            if self.SHAPE is not None and a.shape != self.SHAPE:
                raise ValueError(f"{name}: field '{k}' must have shape {self.SHAPE}, "
                                 f"got {a.shape}")
            if self.SHAPE is None and a.ndim != 1:
                raise ValueError(f"{name}: field '{k}' must be 1-dimensional, got {a.shape}")
            try:
                f.check(a)
            except ValueError as e:
                raise ValueError(f"{name}: {k}: {e}") from None
            a = a.astype(np.int64)
            a.setflags(write=False)
            object.__setattr__(self, k, a)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; build a new one")

    def to_dict(self) -> dict[str, list]:
        """The arrays as nested lists; `cls(**d)` rebuilds the container."""
        return {k: getattr(self, k).tolist() for k in self.FIELDS}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in self.FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}=<{getattr(self, k).shape} array>" for k in self.FIELDS)
        return f"{type(self).__name__}({parts})"

    # layout values (grid shape, + entries) <-> container arrays
    def _to_layout(self) -> dict[str, np.ndarray]:
        if self.QUAD:
            return {lf: getattr(self, k)[..., co.QUAD_ENTRY_COLUMNS]
                    for k, lf in self.FIELDS.items()}
        return {lf: getattr(self, k) for k, lf in self.FIELDS.items()}

    @classmethod
    def _from_layout(cls, values: dict[str, np.ndarray]) -> BlockContainer:
        if cls.QUAD:
            return cls(**{k: _columns(values[lf]) for k, lf in cls.FIELDS.items()})
        return cls(**{k: values[lf] for k, lf in cls.FIELDS.items()})

    @classmethod
    def _grid_addresses(cls, coord: Any) -> np.ndarray:
        """Addresses (*grid, n_words) of every register instance the coordinate covers."""
        cls._check_coordinate(coord)
        reg = coord.register
        return np.asarray(reg.addresses(**coord.index()))

    @classmethod
    def addresses(cls, coord: Any) -> np.ndarray:
        """All word addresses, instance by instance in grid (C) order, as uint32."""
        return cls._grid_addresses(coord).ravel().astype(np.uint32)

    def encode(self, coord: Any) -> np.ndarray:
        """All words (in `addresses(coord)` order) as uint32."""
        grid = self._grid_addresses(coord).shape[:-1]
        values = {}
        for lf, v in self._to_layout().items():
            entries = self.layout[lf].entries
            want = grid + ((entries,) if entries > 1 else ())
            if v.shape != want:
                raise ValueError(f"{type(self).__name__} does not fit {coord}: it holds "
                                 f"{v.shape} values, the coordinate covers {want}")
            values[lf] = v.reshape((-1, entries) if entries > 1 else (-1,))
        n = int(np.prod(grid, dtype=np.int64))
        return self.layout.encode(values, n=n).ravel()

    @classmethod
    def decode(cls, coord: Any, words: np.ndarray) -> BlockContainer:
        """The container from all its words (in `addresses(coord)` order)."""
        grid = cls._grid_addresses(coord).shape[:-1]
        vals = cls.layout.decode(np.asarray(words).astype(np.uint32).reshape(
            -1, cls.layout.n_words))
        return cls._from_layout({k: v.reshape(grid + v.shape[1:]) for k, v in vals.items()})

    def _write(self, coord: Any) -> np.ndarray:
        return ins.omnibus_write(self.addresses(coord), self.encode(coord))

    @classmethod
    def _read(cls, coord: Any) -> tuple[np.ndarray, str, int]:
        a = cls.addresses(coord)
        return ins.omnibus_read(a), "omnibus", a.size

    @classmethod
    def _n_responses(cls, coord: Any) -> int:
        return cls._grid_addresses(coord).size

    @classmethod
    def _decode_responses(cls, coord: Any, payloads: np.ndarray) -> BlockContainer:
        return cls.decode(coord, payloads & _WORD_MASK)


def _columns(quad_values: np.ndarray) -> np.ndarray:
    """(..., 64, 4) per-(quad, entry) values -> (..., 256) per-column values."""
    flat = quad_values.reshape(quad_values.shape[:-2] + (-1,))
    return flat[..., co.COLUMN_QUAD_ENTRY]


_MATRIX = (256, 256)


class SynapseMatrix(BlockContainer):
    """A whole synapse matrix, all bits, [row, column], via the raw view (2 words per quad)."""

    REGISTER = "SynapseQuad"
    coordinate_type = co.SynramOnDLS
    FIELDS = {"weights": "weights", "labels": "labels", "time_calibs": "time_calibs",
              "amp_calibs": "amp_calibs"}
    QUAD = True
    SHAPE = _MATRIX


class SynapseWeightMatrix(BlockContainer):
    """All weights of a synapse matrix [row, column] (weight view, 1 word per quad)."""

    REGISTER = "SynapseWeightQuad"
    coordinate_type = co.SynapseWeightMatrixOnDLS
    FIELDS = {"weights": "weights"}
    QUAD = True
    SHAPE = _MATRIX


class SynapseLabelMatrix(BlockContainer):
    """All labels of a synapse matrix [row, column] (label view, 1 word per quad)."""

    REGISTER = "SynapseLabelQuad"
    coordinate_type = co.SynapseLabelMatrixOnDLS
    FIELDS = {"labels": "labels"}
    QUAD = True
    SHAPE = _MATRIX


class SynapseWeightRow(BlockContainer):
    """The 256 weights of one synapse row, by column."""

    REGISTER = "SynapseWeightQuad"
    coordinate_type = co.SynapseRowOnDLS
    FIELDS = {"weights": "weights"}
    QUAD = True
    SHAPE = (256,)


class SynapseLabelRow(BlockContainer):
    """The 256 labels of one synapse row, by column."""

    REGISTER = "SynapseLabelQuad"
    coordinate_type = co.SynapseLabelRowOnDLS
    FIELDS = {"labels": "labels"}
    QUAD = True
    SHAPE = (256,)


class CADCSampleRow(BlockContainer):
    """Read-only: the causal and acausal CADC samples of one row, by column.

    With the trigger readout type, as the PPU does (libnux `get_causal_correlation`), only the
    first quad of each channel type is a triggered read; the other quads come from the buffer,
    so each channel type is converted once and all its columns share that conversion.
    """

    REGISTER = "CADCSampleQuadTriggered"
    coordinate_type = co.CADCSampleRowOnDLS
    FIELDS = {"causal": "samples", "acausal": "samples"}
    SHAPE = (256,)

    @classmethod
    def _grid_addresses(cls, coord: Any) -> np.ndarray:
        a = super()._grid_addresses(coord).copy()  # (channel type, quad, 1)
        if coord.readout_type == 0:
            buffered = REGISTERS["CADCSampleQuadBuffered"].addresses(**coord.index())
            a[:, 1:] = np.asarray(buffered)[:, 1:]
        return a

    @classmethod
    def _from_layout(cls, values: dict[str, np.ndarray]) -> CADCSampleRow:
        causal, acausal = _columns(values["samples"])  # grid (channel_type, quad)
        return cls(causal=causal, acausal=acausal)


class CapMemBlock(BlockContainer):
    """All cells of a CapMem block, values[column 0..129, row 0..23]."""

    REGISTER = "CapMemCell"
    coordinate_type = co.CapMemBlockOnDLS
    FIELDS = {"values": "value"}
    SHAPE = (co.R.CAPMEM_COLUMNS, co.R.CAPMEM_ROWS)


class PPUMemoryBlock(BlockContainer):
    """Consecutive PPU memory words; the length must match the coordinate's size."""

    REGISTER = "PPUMemoryWord"
    coordinate_type = co.PPUMemoryBlockOnDLS
    FIELDS = {"words": "value"}


class PPUMemory(BlockContainer):
    """The whole 4096-word PPU memory."""

    REGISTER = "PPUMemoryWord"
    coordinate_type = co.PPUMemoryOnDLS
    FIELDS = {"words": "value"}
    SHAPE = (co.R.PPU_MEMORY_WORDS,)


# --- FPGA containers and conditions ------------------------------------------------------------

@dataclass(frozen=True)
class _Plain(Container):
    """A container that is a small frozen dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class OmnibusWord(_Plain):
    """A raw 32-bit omnibus word at any `OmnibusAddress` (byte enables apply to writes)."""

    value: int = 0
    byte_enables: int = isa.OMNIBUS_BYTE_ENABLES_ALL

    coordinate_type = co.OmnibusAddress

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _int("OmnibusWord", "value", self.value, 0, 2**32 - 1))
        object.__setattr__(self, "byte_enables",
                           _int("OmnibusWord", "byte_enables", self.byte_enables, 0, 0xF))

    def _write(self, coord: co.OmnibusAddress) -> np.ndarray:
        return ins.omnibus_write(coord.address, self.value, self.byte_enables)

    @classmethod
    def _read(cls, coord: co.OmnibusAddress) -> tuple[np.ndarray, str, int]:
        return ins.omnibus_read(coord.address), "omnibus", 1

    @classmethod
    def _decode_responses(cls, coord: Any, payloads: np.ndarray) -> OmnibusWord:
        return cls(value=int(payloads[0] & _WORD_MASK))


@dataclass(frozen=True)
class Timer(_Plain):
    """The FPGA timer: writing `Timer()` resets it to 0; reading gives its value in cycles.

    `Timer.Value(n)` blocks until the timer reaches n (the BSS-2 relative-wait idiom).
    """

    value: int = 0

    coordinate_type = co.TimerOnDLS

    @dataclass(frozen=True)
    class Value(BlockUntil):
        """Block until the timer reaches `value` FPGA cycles (125 MHz)."""

        value: int

        coordinate_type = co.TimerOnDLS

        def __post_init__(self) -> None:
            object.__setattr__(self, "value",
                               _int("Timer.Value", "value", self.value, 0, 2**32 - 1))

        def _block(self) -> np.ndarray:
            return ins.wait_until(self.value)

        def to_dict(self) -> dict[str, Any]:
            return {"value": self.value}

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _int("Timer", "value", self.value, 0, 2**32 - 1))

    def _write(self, coord: co.TimerOnDLS) -> np.ndarray:
        if self.value != 0:
            raise ValueError(f"the timer can only be reset to 0, not set to {self.value}")
        return ins.encode("timing_setup")

    @classmethod
    def _read(cls, coord: co.TimerOnDLS) -> tuple[np.ndarray, str, int]:
        return ins.omnibus_read(coord.register.addresses()), "omnibus", 1

    @classmethod
    def _decode_responses(cls, coord: Any, payloads: np.ndarray) -> Timer:
        return cls(value=int(payloads[0] & _WORD_MASK))


@dataclass(frozen=True)
class Barrier(BlockUntil):
    """Block until the selected channels are idle; combine with `|` (Barrier.omnibus | ...)."""

    mask: int

    coordinate_type = co.BarrierOnFPGA
    omnibus: ClassVar[Barrier]
    jtag: ClassVar[Barrier]
    systime: ClassVar[Barrier]
    multi_fpga: ClassVar[Barrier]
    systime_correction: ClassVar[Barrier]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", _int("Barrier", "mask", self.mask, 0, 0b11111))

    def __or__(self, other: Barrier) -> Barrier:
        if not isinstance(other, Barrier):
            return NotImplemented
        return Barrier(self.mask | other.mask)

    def _block(self) -> np.ndarray:
        return ins.encode("timing_barrier", self.mask)

    def to_dict(self) -> dict[str, Any]:
        return {"mask": self.mask}


for _name, _mask in isa.BARRIER.items():
    setattr(Barrier, _name, Barrier(_mask))


@dataclass(frozen=True)
class PollingOmnibusBlock(BlockUntil):
    """Block until `*address & mask` equals (or, with False, differs from) the target.

    Address, mask and target are set with `PollingOmnibusBlockConfig`.
    """

    enable_expects_equality: bool = True

    coordinate_type = co.PollingOmnibusBlockOnFPGA

    def __post_init__(self) -> None:
        object.__setattr__(self, "enable_expects_equality",
                           _bool("PollingOmnibusBlock", "enable_expects_equality",
                                 self.enable_expects_equality))

    def _block(self) -> np.ndarray:
        return ins.encode("timing_polling_omnibus_block", int(self.enable_expects_equality))

    def to_dict(self) -> dict[str, Any]:
        return {"enable_expects_equality": self.enable_expects_equality}


@dataclass(frozen=True)
class _Flag(_Plain):
    """A write-only container whose one bool field is the payload of one instruction."""

    INSTRUCTION: ClassVar[str]
    readable = False

    def __post_init__(self) -> None:
        (f,) = dataclasses.fields(self)
        object.__setattr__(self, f.name, _bool(type(self).__name__, f.name,
                                               getattr(self, f.name)))

    def _write(self, coord: Any) -> np.ndarray:
        (f,) = dataclasses.fields(self)
        return ins.encode(self.INSTRUCTION, int(getattr(self, f.name)))


@dataclass(frozen=True)
class ResetChip(_Flag):
    """The chip reset line: True asserts reset, False releases it."""

    value: bool = False

    coordinate_type = co.ResetChipOnDLS
    INSTRUCTION = "system_reset"


@dataclass(frozen=True)
class SystimeSync(_Flag):
    """Synchronise the chip's systime with the FPGA's."""

    do_sync: bool = True

    coordinate_type = co.SystimeSyncOnFPGA
    INSTRUCTION = "timing_systime_init"


@dataclass(frozen=True)
class NullPayloadReadable(_Plain):
    """Read-only, no data: a loopback tick, e.g. to mark progress in the response stream."""

    coordinate_type = co.NullPayloadReadableOnFPGA
    writable = False

    @classmethod
    def _read(cls, coord: Any) -> tuple[np.ndarray, str, int]:
        return ins.encode("system_loopback", isa.LOOPBACK_TICK), "loopback", 1

    @classmethod
    def _decode_responses(cls, coord: Any, payloads: np.ndarray) -> NullPayloadReadable:
        return cls()


@dataclass(frozen=True)
class JTAGIdCode(_Plain):
    """Read-only: the chip's 32-bit JTAG IDCODE."""

    value: int = 0

    coordinate_type = co.JTAGIdCodeOnDLS
    writable = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _int("JTAGIdCode", "value", self.value, 0, 2**32 - 1))

    @classmethod
    def _read(cls, coord: Any) -> tuple[np.ndarray, str, int]:
        words = np.concatenate([ins.encode("jtag_ins", isa.JTAG_INSTRUCTIONS["IDCODE"]),
                                ins.jtag_data(0, 32, keep_response=True)])
        return words, "jtag", 1

    @classmethod
    def _decode_responses(cls, coord: Any, payloads: np.ndarray) -> JTAGIdCode:
        return cls(value=int(payloads[0] & _WORD_MASK))


@dataclass(frozen=True)
class ResetJTAGTap(_Plain):
    """Write-only: reset the JTAG TAP state machine."""

    coordinate_type = co.ResetJTAGTapOnDLS
    readable = False

    def _write(self, coord: Any) -> np.ndarray:
        return ins.encode("jtag_init")


@dataclass(frozen=True)
class JTAGClockScaler(_Plain):
    """Write-only: the JTAG clock slow-down factor."""

    value: int = 3

    coordinate_type = co.JTAGClockScalerOnDLS
    readable = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _int("JTAGClockScaler", "value", self.value, 0, 255))

    def _write(self, coord: Any) -> np.ndarray:
        return ins.encode("jtag_scaler", self.value)


@dataclass(frozen=True)
class SpikePackToChip(_Plain):
    """Write-only: 1..3 16-bit spike labels sent in one FPGA clock cycle (label 0 first)."""

    labels: tuple[int, ...]

    coordinate_type = co.SpikePackToChipOnDLS
    readable = False

    def __post_init__(self) -> None:
        labels = (self.labels,) if np.ndim(self.labels) == 0 else tuple(self.labels)
        if not 1 <= len(labels) <= isa.MAX_SPIKES_PER_PACK:
            raise ValueError(f"SpikePackToChip: labels must hold 1..3 labels, got {len(labels)}")
        labels = tuple(_int("SpikePackToChip", "labels", v, 0, 2**isa.SPIKE_LABEL_BITS - 1)
                       for v in labels)
        object.__setattr__(self, "labels", labels)

    def _write(self, coord: Any) -> np.ndarray:
        padded = np.zeros((1, isa.MAX_SPIKES_PER_PACK), dtype=np.int64)
        padded[0, :len(self.labels)] = self.labels
        return ins.spike_packs(padded, np.array([len(self.labels)]))


# --- coordinate -> default container -------------------------------------------------------------

def _concrete(base: type) -> list[type]:
    out = []
    for sub in base.__subclasses__():
        if "coordinate_type" in sub.__dict__:
            out.append(sub)
        out.extend(_concrete(sub))
    return out


ALL_CONTAINERS: tuple[type[Container], ...] = tuple(_concrete(Container))
DEFAULT_CONTAINER: dict[type, type[Container]] = {c.coordinate_type: c for c in ALL_CONTAINERS}
assert len(DEFAULT_CONTAINER) == len(ALL_CONTAINERS), "two containers share a coordinate type"


def default_container(coord: Any) -> type[Container]:
    """The container type `builder.read(coord)` decodes at this coordinate."""
    try:
        return DEFAULT_CONTAINER[type(coord)]
    except KeyError:
        raise TypeError(f"{type(coord).__name__} has no default container "
                        "(block_until-only or not a coordinate)") from None
