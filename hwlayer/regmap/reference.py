"""A readable bitstring reference codec for `Layout`, held equal to the numpy codec by tests.

It places bits by slicing bit strings (MSB-first indexing) instead of shifting integers, so
it shares no arithmetic with `Layout.encode`/`decode`. Slow (tens of microseconds a word):
for tests and pretty-printing only.
"""

from __future__ import annotations

from collections.abc import Mapping

from bitstring import BitArray

from .layout import WORD_BITS, Field, Layout


def _stored_bits(f: Field, value: int) -> BitArray:
    v = BitArray(uint=value + f.offset, length=f.width)
    if f.permutation is not None:
        # LSB-index i sits at MSB-index width-1-i
        out = BitArray.from_zeros(f.width)
        for i, src in enumerate(f.permutation):
            out[f.width - 1 - i] = v[f.width - 1 - src]
        v = out
    if f.inverted:
        v = ~v
    return v


def encode(layout: Layout, values: Mapping[str, int | tuple[int, ...]]) -> list[int]:
    """Encode one register instance to its words."""
    words = [BitArray.from_zeros(WORD_BITS) for _ in range(layout.n_words)]
    for f in layout.fields:
        v = values.get(f.name, f.default)
        entries = (v,) * f.entries if isinstance(v, int) and f.entries > 1 else v
        entries = (entries,) if f.entries == 1 else tuple(entries)
        for e, slices in enumerate(f.slices):
            stored = _stored_bits(f, int(entries[e]))
            for s in slices:
                lo, hi = s.value_lsb, s.value_lsb + s.width
                chunk = stored[f.width - hi: f.width - lo]
                words[s.word][WORD_BITS - s.lsb - s.width: WORD_BITS - s.lsb] = chunk
    return [w.uint for w in words]


def decode(layout: Layout, words: list[int]) -> dict[str, int | tuple[int, ...]]:
    """Decode one register instance's words into field values."""
    bw = [BitArray(uint=int(w), length=WORD_BITS) for w in words]
    out = {}
    for f in layout.fields:
        vals = []
        for slices in f.slices:
            stored = BitArray.from_zeros(f.width)
            for s in slices:
                lo, hi = s.value_lsb, s.value_lsb + s.width
                stored[f.width - hi: f.width - lo] = bw[s.word][
                    WORD_BITS - s.lsb - s.width: WORD_BITS - s.lsb]
            if f.inverted:
                stored = ~stored
            if f.permutation is not None:
                v = BitArray.from_zeros(f.width)
                for i, src in enumerate(f.permutation):
                    v[f.width - 1 - src] = stored[f.width - 1 - i]
                stored = v
            vals.append(stored.uint - f.offset)
        out[f.name] = vals[0] if f.entries == 1 else tuple(vals)
    return out


def describe(layout: Layout, words: list[int]) -> str:
    """Human-readable dump: the words in hex and each field's value."""
    fields = decode(layout, words)
    head = " ".join(f"0x{int(w):08x}" for w in words)
    body = ", ".join(f"{k}={v}" for k, v in fields.items())
    return f"{layout.name}[{head}] {body}"
