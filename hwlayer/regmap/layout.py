"""Declarative word layouts: named fields at bit positions, with inversions and permutations.

A `Layout` describes how the fields of one register ("container" in BSS-2 terms) sit in its
32-bit omnibus words. It is the single source of truth for the emulator's storage (reset
words) and for the driver's containers (encode/decode). The codec here is vectorised numpy;
`hwlayer.regmap.reference` holds an independent bitstring codec that tests hold equal to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

WORD_BITS = 32


@dataclass(frozen=True)
class Slice:
    """`width` bits of a field value, starting at value bit `value_lsb`, stored at `word`:`lsb`."""

    word: int
    lsb: int
    width: int
    value_lsb: int = 0


@dataclass(frozen=True)
class Field:
    """One named field, possibly an array of `entries` values (e.g. the 4 entries of a quad).

    Encoding of a value v (per entry): ``t = v + offset``; if `permutation` is given, stored
    bit i is bit ``permutation[i]`` of t; if `inverted`, all `width` bits are flipped; then t
    is split into the entry's slices.
    """

    name: str
    width: int
    slices: tuple[tuple[Slice, ...], ...]
    default: int = 0
    minimum: int = 0
    maximum: int | None = None
    offset: int = 0
    inverted: bool = False
    permutation: tuple[int, ...] | None = None
    doc: str = ""

    @property
    def entries(self) -> int:
        return len(self.slices)

    @property
    def max_value(self) -> int:
        return (1 << self.width) - 1 - self.offset if self.maximum is None else self.maximum

    def check(self, value: np.ndarray) -> None:
        """Raise ValueError naming the field and its range if any value is out of range."""
        v = np.asarray(value)
        if v.size and (v.min() < self.minimum or v.max() > self.max_value):
            bad = v[(v < self.minimum) | (v > self.max_value)].ravel()[0]
            raise ValueError(
                f"field '{self.name}' = {int(bad)} is out of range "
                f"{self.minimum}..{self.max_value}"
            )

    def _to_stored(self, v: np.ndarray) -> np.ndarray:
        t = v.astype(np.int64) + self.offset
        if self.permutation is not None:
            t = _permutation_table(self.permutation, self.width, False)[t]
        if self.inverted:
            t = t ^ ((1 << self.width) - 1)
        return t

    def _from_stored(self, t: np.ndarray) -> np.ndarray:
        if self.inverted:
            t = t ^ ((1 << self.width) - 1)
        if self.permutation is not None:
            t = _permutation_table(self.permutation, self.width, True)[t]
        return t - self.offset


@cache
def _permutation_table(permutation: tuple[int, ...], width: int, inverse: bool) -> np.ndarray:
    """Every value of a permuted field (`width` bits) and its stored form (or, inverse, the way
    back): one lookup per value instead of a pass per bit. Stored bit i is bit permutation[i]."""
    t = np.arange(1 << width, dtype=np.int64)
    out = np.zeros_like(t)
    for i, src in enumerate(permutation):
        if inverse:
            out |= ((t >> i) & 1) << src
        else:
            out |= ((t >> src) & 1) << i
    out.flags.writeable = False
    return out


def bits(word: int, hi: int, lo: int, value_lsb: int = 0) -> Slice:
    """Slice helper in the spec's notation: bits hi..lo of `word`."""
    return Slice(word, lo, hi - lo + 1, value_lsb)


def scalar(name: str, word: int, hi: int, lo: int | None = None, **kw) -> Field:
    """A field stored contiguously at bits hi..lo (lo defaults to hi, a flag)."""
    lo = hi if lo is None else lo
    return Field(name, hi - lo + 1, ((bits(word, hi, lo),),), **kw)


def split(name: str, width: int, parts: Sequence[Slice], **kw) -> Field:
    """A scalar field whose bits are spread over several slices (and words)."""
    return Field(name, width, (tuple(parts),), **kw)


def per_entry(
    name: str, entries: int, place: callable, width: int, **kw
) -> Field:
    """An array field; `place(e)` returns the slices of entry e."""
    return Field(name, width, tuple(tuple(place(e)) for e in range(entries)), **kw)


# entry e of a quad word sits in byte 3 - e: entry 0 in bits 31..24 (quad registers and the
# PPU's vector layout alike)
QUAD_ENTRY_SHIFT = np.array([24, 16, 8, 0], dtype=np.int64)


def quad_byte(name: str, word: int, hi: int, lo: int, **kw) -> Field:
    """A 4-entry quad field at bits hi..lo of byte (3-e): entry 0 in bits 31..24."""
    return per_entry(
        name, 4, lambda e: [bits(word, int(QUAD_ENTRY_SHIFT[e]) + hi,
                                 int(QUAD_ENTRY_SHIFT[e]) + lo)], hi - lo + 1, **kw
    )


@dataclass(frozen=True)
class Layout:
    """The word layout of one register: `n_words` 32-bit words and their fields."""

    name: str
    n_words: int
    fields: tuple[Field, ...]
    doc: str = ""
    _by_name: dict = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        used = [0] * self.n_words
        for f in self.fields:
            for entry in f.slices:
                covered = 0
                for s in entry:
                    if not (0 <= s.word < self.n_words and s.lsb + s.width <= WORD_BITS):
                        raise ValueError(f"{self.name}.{f.name}: slice {s} outside the words")
                    m = ((1 << s.width) - 1) << s.lsb
                    if used[s.word] & m:
                        raise ValueError(f"{self.name}.{f.name}: overlapping slice {s}")
                    used[s.word] |= m
                    covered |= ((1 << s.width) - 1) << s.value_lsb
                if covered != (1 << f.width) - 1:
                    raise ValueError(f"{self.name}.{f.name}: slices do not cover {f.width} bits")
        object.__setattr__(self, "_used", tuple(used))

    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def used_bits(self) -> tuple[int, ...]:
        """Per word, the mask of bits that belong to some field."""
        return self._used

    def defaults(self) -> dict[str, int | tuple[int, ...]]:
        return {
            f.name: (f.default if f.entries == 1 else (f.default,) * f.entries)
            for f in self.fields
        }

    def encode(self, values: Mapping[str, np.ndarray | int], n: int | None = None) -> np.ndarray:
        """Encode field values (scalars, or arrays (n,) / (n, entries)) to words (n, n_words).

        Missing fields take their defaults. Out-of-range values raise ValueError.
        """
        unknown = set(values) - set(self._by_name)
        if unknown:
            raise ValueError(f"{self.name} has no field(s) {sorted(unknown)}")
        arrays = {}
        for f in self.fields:
            v = np.asarray(values.get(f.name, f.default), dtype=np.int64)
            f.check(v)
            if f.entries > 1:
                v = np.broadcast_to(v, v.shape[:-1] + (f.entries,)) if v.ndim else np.full(
                    f.entries, v
                )
            arrays[f.name] = v
        if n is None:
            shapes = [
                a.shape[:-1] if self[k].entries > 1 else a.shape for k, a in arrays.items()
            ]
            n = max((s[0] for s in shapes if len(s)), default=None)
        count = 1 if n is None else n
        words = np.zeros((count, self.n_words), dtype=np.int64)
        for f in self.fields:
            v = arrays[f.name]
            if f.entries == 1:
                v = np.broadcast_to(v, (count,))[:, None]
            else:
                v = np.broadcast_to(v, (count, f.entries))
            t = f._to_stored(v)
            for e, entry in enumerate(f.slices):
                for s in entry:
                    words[:, s.word] |= ((t[:, e] >> s.value_lsb) & ((1 << s.width) - 1)) << s.lsb
        out = words.astype(np.uint32)
        return out[0] if n is None else out

    def decode(self, words: np.ndarray) -> dict[str, np.ndarray]:
        """Decode words (n_words,) or (n, n_words) into field arrays; unused bits are ignored."""
        w = np.asarray(words, dtype=np.int64)
        single = w.ndim == 1
        w = w.reshape(-1, self.n_words)
        out = {}
        for f in self.fields:
            t = np.zeros((w.shape[0], f.entries), dtype=np.int64)
            for e, entry in enumerate(f.slices):
                for s in entry:
                    t[:, e] |= ((w[:, s.word] >> s.lsb) & ((1 << s.width) - 1)) << s.value_lsb
            v = f._from_stored(t)
            if f.entries == 1:
                v = v[:, 0]
            out[f.name] = v[0] if single else v
        return out

    def reset_words(self) -> np.ndarray:
        """The words of the default-constructed register."""
        return self.encode({})
