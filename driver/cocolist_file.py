"""Cocolist files: the versioned binary `.pbin` format, a JSON view and a field-level diff.

The real stack stores a cocolist as a cereal portable-binary archive of haldls/halco objects
(docs/cocolists.md). hxemu's `.pbin` keeps the idea (type names in the file, tied to
the class layouts, exactly the register bits) in its own, documented layout (docs/cocolists.md),
little-endian throughout:

    header    magic b"HXEMUCOC", uint16 format version, uint16 flags (0), uint64 file size
    metadata  uint32 length + UTF-8 JSON object (model_version, chip_id, created, hxemu, comment)
    types     uint16 count; per type: uint16 length + class name, uint16 length + field names
              joined by ","
    entries   uint32 count N; N records (uint16 coordinate type, uint16 item type, uint8 kind,
              uint8 number of coordinate values, uint32 number of payload items)
    coords    int64 coordinate field values, entry by entry
    words     uint32 register words of the register (kind 0) and block (kind 1) containers
    values    int64 field values of the FPGA containers (kind 2) and waits (kind 3): per field
              a marker (-1: scalar, n >= 0: tuple of n) and the value(s)
    checksum  SHA-256 of every byte before it

`save_cocolist` writes atomically (temporary file, fsync, `os.replace`); `load_cocolist`
checks everything and builds the whole list before returning it, and raises
`CocolistFileError` (naming the file and the problem) for anything it cannot read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as _dist
from pathlib import Path
from typing import Any

import numpy as np

from . import containers as C
from . import coordinates as co
from . import jsonlimits
from .cocolist import Cocolist

MAGIC = b"HXEMUCOC"
FORMAT_VERSION = 1
METADATA_KEYS = ("model_version", "chip_id", "created", "hxemu", "comment")
MAX_METADATA_DEPTH = 32  # JSON nesting of the metadata (saving and loading)

_HEADER = struct.Struct("<8sHHQ")  # magic, version, flags, file size
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_CHECKSUM_BYTES = 32
_ENTRY = np.dtype([("coord", "<u2"), ("item", "<u2"), ("kind", "u1"), ("n_coord", "u1"),
                   ("n_payload", "<u4")])
_SCALAR = -1  # value-stream marker of a scalar field

KIND_REGISTER, KIND_BLOCK, KIND_FPGA, KIND_WAIT = 0, 1, 2, 3
KIND_NAMES = ("register", "block", "fpga", "wait")


class CocolistFileError(ValueError):
    """A cocolist file that cannot be read or written; the message names the file."""


# --- the type registry ---------------------------------------------------------------------------

def _subclasses(base: type) -> Iterator[type]:
    for sub in base.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _item_kind(cls: type) -> int:
    if issubclass(cls, C.RegisterContainer):
        return KIND_REGISTER
    if issubclass(cls, C.BlockContainer):
        return KIND_BLOCK
    if issubclass(cls, C.BlockUntil):
        return KIND_WAIT
    return KIND_FPGA


def _build_registry() -> tuple[dict[str, type], dict[str, type]]:
    coords = {c.__qualname__: c for c in co.all_coordinate_types()}
    items: dict[str, type] = {}
    waits = [c for c in _subclasses(C.BlockUntil) if "coordinate_type" in c.__dict__]
    for cls in (*C.ALL_CONTAINERS, *waits):
        if _item_kind(cls) in (KIND_FPGA, KIND_WAIT) and not dataclasses.is_dataclass(cls):
            continue  # not storable (no field values to write)
        if items.setdefault(cls.__qualname__, cls) is not cls:
            raise TypeError(f"two container types are called {cls.__qualname__}")
    clash = set(coords) & set(items)
    if clash:
        raise TypeError(f"names used by a coordinate and a container: {sorted(clash)}")
    return coords, items


COORDINATE_TYPES, ITEM_TYPES = _build_registry()


def _field_names(cls: type) -> tuple[str, ...]:
    """The fields whose values the file stores (coordinates, FPGA items) or names (registers)."""
    if issubclass(cls, C.RegisterContainer):
        return cls.layout.field_names
    if issubclass(cls, C.BlockContainer):
        return tuple(cls.FIELDS)
    return tuple(f.name for f in dataclasses.fields(cls))


def item_fields(item: Any) -> dict[str, Any]:
    """Field values of a container or wait: ints/bools/tuples, numpy arrays for blocks."""
    if isinstance(item, C.BlockContainer):
        return {k: getattr(item, k) for k in item.FIELDS}
    if isinstance(item, C.RegisterContainer):
        return item.to_dict()
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}


def coordinate_fields(coord: Any) -> dict[str, int]:
    return {f.name: getattr(coord, f.name) for f in dataclasses.fields(coord)}


# --- metadata ----------------------------------------------------------------------------------

def hxemu_version() -> str:
    try:
        return _dist.version("hxemu")
    except _dist.PackageNotFoundError:
        return "unknown"


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    raise TypeError(f"{type(v).__name__} {v!r} is not JSON-serialisable")


def make_metadata(metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The caller's metadata over the defaults (model_version/chip_id None, created now, hxemu
    this version, comment ""). Keys must be strings and values JSON-serialisable."""
    meta = {"model_version": None, "chip_id": None,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "hxemu": hxemu_version(), "comment": ""}
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        try:
            jsonlimits.check_depth(dict(metadata), MAX_METADATA_DEPTH)
        except jsonlimits.JSONDepthError as e:
            raise ValueError(f"metadata is {e}") from None
        bad = [k for k in metadata if not isinstance(k, str)]
        if bad:
            raise TypeError(f"metadata keys must be strings, got {bad!r}")
        meta.update(metadata)
    # normalise through JSON so that what load returns equals what was written
    return json.loads(_metadata_json(meta))


def _metadata_json(meta: Mapping[str, Any]) -> str:
    try:
        return json.dumps(meta, sort_keys=True, ensure_ascii=False, default=_json_default,
                          allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata must be JSON-serialisable: {e}") from None


# --- encoding ----------------------------------------------------------------------------------

def encode_cocolist(cocolist: Cocolist, metadata: Mapping[str, Any] | None = None) -> bytes:
    """The `.pbin` bytes of a cocolist (metadata completed by `make_metadata`)."""
    if not isinstance(cocolist, Cocolist):
        raise TypeError(f"expected a Cocolist, got {type(cocolist).__name__}")
    meta_bytes = _metadata_json(make_metadata(metadata)).encode("utf-8")
    entries = cocolist.entries
    n = len(entries)

    type_index: dict[type, int] = {}
    table = np.zeros(n, dtype=_ENTRY)
    coord_type = np.zeros(n, dtype=np.int64)
    item_type = np.zeros(n, dtype=np.int64)
    coord_values: list[int] = []
    by_register: dict[type, list[int]] = {}
    block_words: dict[int, np.ndarray] = {}
    value_chunks: dict[int, list[int]] = {}
    field_cache: dict[type, tuple[str, ...]] = {}

    def type_id(cls: type) -> int:
        i = type_index.get(cls)
        if i is None:
            known = COORDINATE_TYPES if issubclass(cls, co.Coordinate) else ITEM_TYPES
            if known.get(cls.__qualname__) is not cls:
                raise TypeError(f"{cls.__qualname__} cannot be stored in a cocolist file")
            i = type_index[cls] = len(type_index)
            field_cache[cls] = _field_names(cls)
        return i

    for i, (coord, item) in enumerate(entries):
        ct, it = type(coord), type(item)
        coord_type[i], item_type[i] = type_id(ct), type_id(it)
        if it.coordinate_type is not ct:
            raise TypeError(f"entry {i}: {it.__qualname__} lives at "
                            f"{it.coordinate_type.__name__}, got a {ct.__name__}")
        names = field_cache[ct]
        coord_values.extend(getattr(coord, f) for f in names)
        table["n_coord"][i] = len(names)
        kind = _item_kind(it)
        table["kind"][i] = kind
        if kind == KIND_REGISTER:
            by_register.setdefault(it, []).append(i)
            table["n_payload"][i] = it.layout.n_words
        elif kind == KIND_BLOCK:
            w = item.encode(coord)
            block_words[i] = w
            table["n_payload"][i] = w.size
        else:
            vals = _plain_values(item, field_cache[it])
            value_chunks[i] = vals
            table["n_payload"][i] = len(vals)
    if len(type_index) > 0xFFFF:
        raise ValueError(f"a cocolist file holds at most 65535 types, got {len(type_index)}")
    table["coord"], table["item"] = coord_type, item_type

    # words: register containers encoded per type (unique containers once), blocks as they are
    is_word = table["kind"] <= KIND_BLOCK
    word_n = np.where(is_word, table["n_payload"], 0).astype(np.int64)
    word_off = np.cumsum(word_n) - word_n
    words = np.zeros(int(word_n.sum()), dtype=np.uint32)
    for cls, idx in by_register.items():
        unique: dict[Any, int] = {}
        inverse = np.array([unique.setdefault(entries[j][1], len(unique)) for j in idx])
        dicts = [u.to_dict() for u in unique]
        fields = {k: np.array([d[k] for d in dicts], dtype=np.int64)
                  for k in cls.layout.field_names}
        encoded = cls.layout.encode(fields, n=len(dicts)).reshape(len(dicts), -1)
        nw = cls.layout.n_words
        words[word_off[idx][:, None] + np.arange(nw)] = encoded[inverse]
    for j, w in block_words.items():
        words[word_off[j]:word_off[j] + w.size] = w
    values = [v for j in sorted(value_chunks) for v in value_chunks[j]]

    try:
        coords_arr = np.array(coord_values, dtype="<i8")
        values_arr = np.array(values, dtype="<i8")
    except OverflowError as e:
        raise ValueError(f"a field value does not fit in int64: {e}") from None

    parts = [b"", _U32.pack(len(meta_bytes)), meta_bytes, _U16.pack(len(type_index))]
    for cls in type_index:
        for text in (cls.__qualname__, ",".join(field_cache[cls])):
            b = text.encode("utf-8")
            parts += [_U16.pack(len(b)), b]
    parts += [_U32.pack(n), table.tobytes(), coords_arr.tobytes(),
              words.astype("<u4").tobytes(), values_arr.tobytes()]
    size = _HEADER.size + sum(len(p) for p in parts) + _CHECKSUM_BYTES
    parts[0] = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, size)
    body = b"".join(parts)
    return body + hashlib.sha256(body).digest()


def _plain_values(item: Any, names: tuple[str, ...]) -> list[int]:
    out: list[int] = []
    for f in names:
        v = getattr(item, f)
        if isinstance(v, tuple):
            out.append(len(v))
            out.extend(_plain_int(item, f, x) for x in v)
        else:
            out += [_SCALAR, _plain_int(item, f, v)]
    return out


def _plain_int(item: Any, name: str, v: Any) -> int:
    if isinstance(v, bool | int | np.integer):
        return int(v)
    raise TypeError(f"{type(item).__qualname__}.{name} = {v!r} is not an int: it cannot be "
                    "stored in a cocolist file")


# --- decoding ----------------------------------------------------------------------------------

class _Reader:
    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.path, self.pos = data, path, 0
        self.end = len(data) - _CHECKSUM_BYTES

    def fail(self, what: str) -> CocolistFileError:
        return CocolistFileError(f"{self.path}: {what}")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise self.fail(f"malformed {what}: it runs past the end of the data")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u16(self, what: str) -> int:
        return _U16.unpack(self.take(2, what))[0]

    def u32(self, what: str) -> int:
        return _U32.unpack(self.take(4, what))[0]

    def text(self, what: str) -> str:
        b = self.take(self.u16(what), what)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"malformed {what}: not UTF-8") from None

    def array(self, dtype: Any, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(dt.itemsize * count, what), dtype=dt)


def _check_header(data: bytes, path: str) -> None:
    n = len(data)
    if data[:len(MAGIC)] != MAGIC[:n]:
        raise CocolistFileError(f"{path}: not a hxemu cocolist file (bad magic "
                                f"{data[:len(MAGIC)]!r}, expected {MAGIC!r})")
    if n < _HEADER.size:
        raise CocolistFileError(f"{path}: truncated: {n} bytes, shorter than the "
                                f"{_HEADER.size}-byte header")
    _, version, flags, size = _HEADER.unpack_from(data)
    if version > FORMAT_VERSION:
        raise CocolistFileError(f"{path}: format version {version} was written by a newer "
                                f"hxemu; this hxemu ({hxemu_version()}) reads versions up to "
                                f"{FORMAT_VERSION}")
    if version < 1:
        raise CocolistFileError(f"{path}: unknown format version {version}")
    if flags != 0:
        raise CocolistFileError(f"{path}: unknown flags 0x{flags:04x} (format version "
                                f"{version} defines none)")
    if n < size:
        raise CocolistFileError(f"{path}: truncated: {n} bytes, the header says {size}")
    if n > size:
        raise CocolistFileError(f"{path}: {n - size} unexpected bytes after the end "
                                f"({size} bytes)")
    if n < _HEADER.size + _CHECKSUM_BYTES:
        raise CocolistFileError(f"{path}: malformed: {n} bytes cannot hold a header and a "
                                "checksum")
    if hashlib.sha256(data[:-_CHECKSUM_BYTES]).digest() != data[-_CHECKSUM_BYTES:]:
        raise CocolistFileError(f"{path}: checksum mismatch: the file is corrupted")


def decode_cocolist(data: bytes, path: str | os.PathLike = "<bytes>"
                    ) -> tuple[Cocolist, dict[str, Any]]:
    """(cocolist, metadata) from `.pbin` bytes; `CocolistFileError` for anything wrong."""
    path = os.fspath(path)
    data = bytes(data)
    _check_header(data, path)
    r = _Reader(data, path)
    r.pos = _HEADER.size

    raw = r.take(r.u32("metadata"), "metadata")
    try:
        meta = jsonlimits.loads(raw, MAX_METADATA_DEPTH)
    except ValueError as e:  # not UTF-8, not JSON, nested too deeply
        raise r.fail(f"malformed metadata: {e}") from None
    if not isinstance(meta, dict):
        raise r.fail(f"malformed metadata: a JSON object is required, got "
                     f"{type(meta).__name__}")
    missing = [k for k in METADATA_KEYS if k not in meta]
    if missing:
        raise r.fail(f"malformed metadata: missing key(s) {missing}")

    types: list[type] = []
    for t in range(r.u16("type table")):
        name, fields = r.text("type table"), r.text("type table")
        cls = COORDINATE_TYPES.get(name) or ITEM_TYPES.get(name)
        if cls is None:
            raise r.fail(f"unknown type name {name!r} (type {t}): not a coordinate or "
                         "container this hxemu knows")
        mine = ",".join(_field_names(cls))
        if fields != mine:
            raise r.fail(f"type {name} has fields ({fields}) in the file but ({mine}) in this "
                         "hxemu")
        types.append(cls)

    n = r.u32("entry table")
    table = r.array(_ENTRY, n, "entry table")
    coords_v = r.array("<i8", int(table["n_coord"].sum(dtype=np.int64)), "coordinate values")
    kinds = table["kind"].astype(np.int64)
    n_payload = table["n_payload"].astype(np.int64)
    word_n = np.where(kinds <= KIND_BLOCK, n_payload, 0)
    value_n = np.where(kinds > KIND_BLOCK, n_payload, 0)
    words = r.array("<u4", int(word_n.sum()), "register words")
    values = r.array("<i8", int(value_n.sum()), "field values")
    if r.pos != r.end:
        raise r.fail(f"malformed entries: {r.end - r.pos} bytes left over before the checksum")

    entries = _build_entries(r, types, table, coords_v, words, values, word_n, value_n)
    cc = Cocolist()
    for i, (coord, item) in enumerate(entries):
        try:
            cc.append(coord, item)
        except (TypeError, ValueError) as e:
            raise r.fail(f"entry {i}: {e}") from None
    return cc, meta


def _build_entries(r: _Reader, types: list[type], table: np.ndarray, coords_v: np.ndarray,
                   words: np.ndarray, values: np.ndarray, word_n: np.ndarray,
                   value_n: np.ndarray) -> list[tuple]:
    n = table.size
    n_types = len(types)
    ct = table["coord"].astype(np.int64)
    it = table["item"].astype(np.int64)
    kinds = table["kind"].astype(np.int64)
    n_coord = table["n_coord"].astype(np.int64)
    n_payload = table["n_payload"].astype(np.int64)

    def where(bad: np.ndarray) -> int:
        return int(np.flatnonzero(bad)[0])

    for col, label in ((ct, "coordinate"), (it, "item")):
        bad = col >= n_types
        if bad.any():
            i = where(bad)
            raise r.fail(f"malformed entries: entry {i} names {label} type {col[i]}, the "
                         f"table has {n_types}")
    is_coord = np.array([issubclass(t, co.Coordinate) for t in types] or [False])
    type_kind = np.array([-1 if issubclass(t, co.Coordinate) else _item_kind(t) for t in types]
                         or [-1])
    n_fields = np.array([len(_field_names(t)) for t in types] or [0])
    n_words = np.array([t.layout.n_words if issubclass(t, C.RegisterContainer) else -1
                        for t in types] or [-1])
    checks = (
        (~is_coord[ct], lambda i: f"{types[ct[i]].__qualname__} is not a coordinate"),
        (is_coord[it], lambda i: f"{types[it[i]].__qualname__} is not a container or wait"),
        (kinds != type_kind[it], lambda i: f"kind {_kind_name(kinds[i])}, but "
                                           f"{types[it[i]].__qualname__} is kind "
                                           f"{_kind_name(type_kind[it[i]])}"),
        (n_coord != n_fields[ct], lambda i: f"{n_coord[i]} coordinate values for "
                                            f"{types[ct[i]].__qualname__}"),
        ((kinds == KIND_REGISTER) & (n_payload != n_words[it]),
         lambda i: f"{n_payload[i]} words for {types[it[i]].__qualname__}, which has "
                   f"{n_words[it[i]]}"),
    )
    for bad, why in checks:
        if n and bad.any():
            i = where(bad)
            raise r.fail(f"malformed entries: entry {i}: {why(i)}")

    def entry_error(i: int, e: Exception) -> CocolistFileError:
        return r.fail(f"entry {i} ({types[ct[i]].__qualname__} / "
                      f"{types[it[i]].__qualname__}): {e}")

    # coordinates: per type, each distinct value row constructed once
    coord_off = np.cumsum(n_coord) - n_coord
    coords: list[Any] = [None] * n
    for t in np.unique(ct):
        idx = np.flatnonzero(ct == t)
        rows = coords_v[coord_off[idx][:, None] + np.arange(n_fields[t])]
        uniq, first, inverse = _unique_rows(rows)
        names = _field_names(types[t])
        built = []
        for u, row in enumerate(uniq):
            try:
                built.append(types[t](**dict(zip(names, row.tolist(), strict=True))))
            except (TypeError, ValueError) as e:
                raise entry_error(int(idx[first[u]]), e) from None
        for j, u in zip(idx.tolist(), inverse.tolist(), strict=True):
            coords[j] = built[u]

    # items
    items: list[Any] = [None] * n
    word_off = np.cumsum(word_n) - word_n
    value_off = np.cumsum(value_n) - value_n
    for t in np.unique(it):
        cls = types[t]
        idx = np.flatnonzero(it == t)
        kind = type_kind[t]
        if kind == KIND_REGISTER:
            nw = int(n_words[t])
            rows = words[word_off[idx][:, None] + np.arange(nw)]
            uniq, first, inverse = _unique_rows(rows)
            used = np.array(cls.layout.used_bits, dtype=np.uint32)
            built = []
            for u, row in enumerate(uniq):
                try:
                    _check_used_bits(row, used, cls)
                    built.append(cls.decode(row))
                except (TypeError, ValueError) as e:
                    raise entry_error(int(idx[first[u]]), e) from None
            for j, u in zip(idx.tolist(), inverse.tolist(), strict=True):
                items[j] = built[u]
        elif kind == KIND_BLOCK:
            used = np.array(cls.layout.used_bits, dtype=np.uint32)
            for j in idx.tolist():
                w = words[word_off[j]:word_off[j] + word_n[j]]
                try:
                    want = cls.addresses(coords[j]).size
                    if w.size != want:
                        raise ValueError(f"{w.size} words in the file, {coords[j]} covers "
                                         f"{want}")
                    _check_used_bits(w.reshape(-1, used.size), used, cls)
                    items[j] = cls.decode(coords[j], w)
                except (TypeError, ValueError) as e:
                    raise entry_error(j, e) from None
        else:
            names = _field_names(cls)
            for j in idx.tolist():
                v = values[value_off[j]:value_off[j] + value_n[j]].tolist()
                try:
                    items[j] = cls(**_plain_kwargs(v, names))
                except (TypeError, ValueError) as e:
                    raise entry_error(j, e) from None
    return list(zip(coords, items, strict=True))


def _kind_name(kind: int) -> str:
    return f"{kind} ({KIND_NAMES[kind]})" if 0 <= kind < len(KIND_NAMES) else str(kind)


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct rows, first index of each, row -> distinct index); rows may have 0 columns."""
    if rows.shape[1] == 0:
        return rows[:1], np.zeros(1, dtype=np.int64), np.zeros(len(rows), dtype=np.int64)
    uniq, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return uniq, first, inverse.ravel()


def _check_used_bits(words: np.ndarray, used: np.ndarray, cls: type) -> None:
    extra = np.asarray(words, dtype=np.uint32) & ~used
    if extra.any():
        w = int(np.flatnonzero(extra.ravel())[0])
        raise ValueError(f"{cls.__qualname__} word {w % used.size} has bits set outside its "
                         f"fields (0x{int(extra.ravel()[w]):08x})")


def _plain_kwargs(v: list[int], names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pos = 0
    for name in names:
        if pos >= len(v):
            raise ValueError(f"the field values end before field '{name}'")
        marker = v[pos]
        if marker == _SCALAR:
            if pos + 2 > len(v):
                raise ValueError(f"field '{name}' has no value")
            out[name] = v[pos + 1]
            pos += 2
        elif 0 <= marker <= len(v) - pos - 1:
            out[name] = tuple(v[pos + 1:pos + 1 + marker])
            pos += 1 + marker
        else:
            raise ValueError(f"field '{name}' has a bad length marker {marker}")
    if pos != len(v):
        raise ValueError(f"{len(v) - pos} field values left over")
    return out


# --- files -------------------------------------------------------------------------------------

def _write_all(f: Any, data: bytes) -> None:
    """Write in chunks (a seam for tests that fail half-way)."""
    chunk = 1 << 20
    for i in range(0, len(data), chunk):
        f.write(data[i:i + chunk])


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_cocolist(path: str | os.PathLike, cocolist: Cocolist,
                  metadata: Mapping[str, Any] | None = None) -> None:
    """Write `cocolist` to `path` atomically: a reader sees the old file or the whole new one.

    `metadata` (a dict with string keys, JSON-serialisable values, nested at most
    MAX_METADATA_DEPTH levels) goes over the defaults of `make_metadata`. The data is encoded
    first (bad entries or metadata raise TypeError or ValueError before anything is written),
    then written by `atomic_write_bytes`.
    """
    atomic_write_bytes(path, encode_cocolist(cocolist, metadata))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically: a temporary file in the same directory, fsynced and
    renamed over `path`, which keeps its permission bits (a new file gets 0666 & ~umask). An
    exception on the way (OSError, KeyboardInterrupt) propagates after the temporary file is
    removed; `path` stays as it was."""
    path = os.fspath(path)
    target = Path(path)
    directory = target.parent
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename durable
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def check_writable(path: str | os.PathLike) -> None:
    """OSError naming `path` unless a file can be written there now (its folder exists and
    takes a new file, and `path` is not a folder): checked before long work, not after."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {target}: it is a directory")
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {target}: no folder {folder}")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {target}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)


def save_or_keep(path: str | os.PathLike, data: bytes, what: str) -> Path:
    """`atomic_write_bytes(path, data)`; if that fails, the data is written to the temporary
    folder instead and an OSError says where (a long computation's result is never lost)."""
    try:
        atomic_write_bytes(path, data)
        return Path(path)
    except OSError as e:
        fd, kept = tempfile.mkstemp(prefix=f"hxemu-{Path(path).stem}-",
                                    suffix=Path(path).suffix)
        os.close(fd)
        atomic_write_bytes(kept, data)
        raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}; the {what} was "
                               f"saved to {kept} instead") from e


def load_cocolist(path: str | os.PathLike) -> tuple[Cocolist, dict[str, Any]]:
    """(cocolist, metadata) from a `.pbin` file; `CocolistFileError` naming the file and the
    problem if it is missing, foreign, truncated, corrupted, newer or malformed."""
    path = os.fspath(path)
    try:
        # non-blocking: opening a FIFO without a writer must not hang
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as e:
        raise CocolistFileError(f"{path}: no such file") from e
    except OSError as e:
        raise CocolistFileError(f"{path}: cannot read: {e.strerror or e}") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CocolistFileError(f"{path}: cannot read: not a regular file (a device, FIFO or "
                                "directory holds no cocolist)")
    with os.fdopen(fd, "rb") as f:
        try:
            head = f.read(len(MAGIC))
            if head != MAGIC[:len(head)]:  # refused before the rest is read
                _check_header(head, path)
            data = head + f.read()
        except OSError as e:
            raise CocolistFileError(f"{path}: cannot read: {e.strerror or e}") from e
    return decode_cocolist(data, path)


# --- JSON view -----------------------------------------------------------------------------------

def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, bool):
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    return v


def _json_array(a: np.ndarray, indent: str) -> str:
    """A block array as JSON: one innermost row per line (1-d arrays 32 values a line)."""
    if a.ndim == 1:
        rows = [a[i:i + 32] for i in range(0, a.size, 32)]
        body = (",\n" + indent + "  ").join(", ".join(map(str, r.tolist())) for r in rows)
        return "[\n" + indent + "  " + body + "\n" + indent + "]"
    inner = (",\n" + indent + "  ").join(_json_array(x, indent + "  ") if x.ndim > 1
                                         else json.dumps(x.tolist()) for x in a)
    return "[\n" + indent + "  " + inner + "\n" + indent + "]"


def entry_to_json(coord: Any, item: Any, indent: str = "    ") -> str:
    """One entry as a JSON object (one line, block arrays over several lines)."""
    c = json.dumps({"type": type(coord).__qualname__, **coordinate_fields(coord)})
    key = "block_until" if isinstance(item, C.BlockUntil) else "container"
    fields = item_fields(item)
    head = {"type": type(item).__qualname__}
    if isinstance(item, C.BlockContainer):
        parts = [json.dumps("type") + ": " + json.dumps(head["type"])]
        parts += [json.dumps(k) + ": " + _json_array(v, indent) for k, v in fields.items()]
        body = "{" + ", ".join(parts) + "}"
    else:
        body = json.dumps({**head, **{k: _jsonable(v) for k, v in fields.items()}})
    return f'{{"coordinate": {c}, "{key}": {body}}}'


def cocolist_to_json(cocolist: Cocolist, metadata: Mapping[str, Any] | None = None) -> str:
    """A human-readable, diffable JSON document of the metadata and every entry, in order.

    Keys are in a fixed order (metadata sorted; entries: "coordinate" then "container" or
    "block_until", each with "type" first and then the fields in declaration order). Register
    containers give their `to_dict()` values, block containers their arrays as nested lists.
    """
    meta = json.dumps(dict(metadata or {}), indent=2, sort_keys=True, ensure_ascii=False,
                      default=_json_default).replace("\n", "\n  ")
    rows = [entry_to_json(c, i) for c, i in cocolist]
    entries = "[\n" + ",\n".join("    " + r for r in rows) + "\n  ]" if rows else "[]"
    lines = ["{", '  "format": "hxemu-cocolist",', f'  "format_version": {FORMAT_VERSION},',
             f'  "metadata": {meta},', f'  "entries": {entries}', "}"]
    return "\n".join(lines) + "\n"


# --- diff ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChange:
    """One field that differs; for arrays `count` values differ, the first at `index`."""

    name: str
    old: Any
    new: Any
    count: int = 1
    index: tuple[int, ...] | None = None


@dataclass(frozen=True)
class CocolistDiff:
    """Differences between two cocolists after `squash()` (writes only, last per coordinate)."""

    added: list[tuple]
    removed: list[tuple]
    changed: list[tuple]  # (coord, old item, new item, [FieldChange])

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def field_changes(old: Any, new: Any) -> list[FieldChange]:
    """Field-level differences of two containers (a type change is one change of "type")."""
    if type(old) is not type(new):
        return [FieldChange("type", type(old).__qualname__, type(new).__qualname__)]
    a, b = item_fields(old), item_fields(new)
    out = []
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, np.ndarray):
            if va.shape != vb.shape:
                out.append(FieldChange(k, va.shape, vb.shape, count=max(va.size, vb.size)))
                continue
            diff = va != vb
            if diff.any():
                first = tuple(int(x) for x in np.argwhere(diff)[0])
                out.append(FieldChange(k, int(va[first]), int(vb[first]),
                                       count=int(diff.sum()), index=first))
        elif va != vb:
            out.append(FieldChange(k, _jsonable(va), _jsonable(vb)))
    return out


def diff_cocolists(a: Cocolist, b: Cocolist) -> CocolistDiff:
    """What changes from `a` to `b` after squashing both, in coordinate order."""
    sa, sb = dict(a.squash().entries), dict(b.squash().entries)
    added = [(c, i) for c, i in sb.items() if c not in sa]
    removed = [(c, i) for c, i in sa.items() if c not in sb]
    changed = [(c, sa[c], i, field_changes(sa[c], i)) for c, i in sb.items()
               if c in sa and not _same(sa[c], i)]
    return CocolistDiff(added, removed, changed)


def _same(x: Any, y: Any) -> bool:
    return type(x) is type(y) and x == y
