"""Every register layout: the numpy codec equals the bitstring reference codec, both round-trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwlayer.regmap import reference
from hwlayer.regmap.layout import Layout
from hwlayer.regmap.registers import REGISTERS

LAYOUTS: dict[str, Layout] = {}
for _reg in REGISTERS.values():
    LAYOUTS.setdefault(_reg.layout.name, _reg.layout)

FAST = settings(max_examples=50, deadline=None)


def field_values(layout: Layout) -> st.SearchStrategy[dict]:
    """Random in-range values of every field (ints; tuples for array fields)."""
    parts = {}
    for f in layout.fields:
        one = st.integers(f.minimum, f.max_value)
        parts[f.name] = one if f.entries == 1 else st.tuples(*[one] * f.entries)
    return st.fixed_dictionaries(parts)


def words_of(layout: Layout) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 2**32 - 1), min_size=layout.n_words, max_size=layout.n_words)


def plain(decoded: dict) -> dict:
    """Numpy decode output as ints / tuples, comparable with reference values."""
    return {k: (tuple(int(x) for x in v) if np.ndim(v) else int(v)) for k, v in decoded.items()}


def in_range(layout: Layout, values: dict) -> bool:
    for f in layout.fields:
        vs = values[f.name] if f.entries > 1 else (values[f.name],)
        if any(not f.minimum <= v <= f.max_value for v in vs):
            return False
    return True


names = pytest.mark.parametrize("name", sorted(LAYOUTS))


@names
@FAST
@given(data=st.data())
def test_numpy_encode_equals_reference(name, data):
    layout = LAYOUTS[name]
    v = data.draw(field_values(layout))
    words = layout.encode(v)
    assert words.dtype == np.uint32 and words.shape == (layout.n_words,)
    assert [int(w) for w in words] == reference.encode(layout, v)


@names
@FAST
@given(data=st.data())
def test_round_trips_through_both_codecs(name, data):
    layout = LAYOUTS[name]
    v = data.draw(field_values(layout))
    words = layout.encode(v)
    assert plain(layout.decode(words)) == v
    assert reference.decode(layout, [int(w) for w in words]) == v


@names
@FAST
@given(data=st.data())
def test_arbitrary_words_decode_and_reencode_the_used_bits(name, data):
    layout = LAYOUTS[name]
    words = np.array(data.draw(words_of(layout)), dtype=np.uint32)
    v = plain(layout.decode(words))
    assert v == reference.decode(layout, [int(w) for w in words])
    if in_range(layout, v):
        used = np.array(layout.used_bits, dtype=np.uint32)
        assert np.array_equal(layout.encode(v), words & used)
    else:  # a field whose range is narrower than its bits (e.g. a CapMem row 24..31)
        with pytest.raises(ValueError):
            layout.encode(v)


@names
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_vectorised_encode_equals_one_by_one(name, data):
    layout = LAYOUTS[name]
    batch = data.draw(st.lists(field_values(layout), min_size=1, max_size=5))
    arrays = {f.name: np.array([v[f.name] for v in batch]) for f in layout.fields}
    words = layout.encode(arrays, n=len(batch))
    assert words.shape == (len(batch), layout.n_words)
    for row, v in zip(words, batch, strict=True):
        assert np.array_equal(row, layout.encode(v))
    decoded = layout.decode(words)
    for f in layout.fields:
        assert np.array_equal(decoded[f.name], arrays[f.name])


@names
def test_out_of_range_values_name_the_field(name):
    layout = LAYOUTS[name]
    for f in layout.fields:
        for bad in (f.minimum - 1, f.max_value + 1):
            with pytest.raises(ValueError, match=f"'{f.name}'.*{f.minimum}..{f.max_value}"):
                layout.encode({f.name: bad})


@names
def test_defaults_are_in_range_and_reset_words_decode_to_them(name):
    layout = LAYOUTS[name]
    defaults = layout.defaults()
    assert plain(layout.decode(layout.reset_words())) == defaults
    assert [int(w) for w in layout.reset_words()] == reference.encode(layout, defaults)


def test_unknown_field_is_refused():
    with pytest.raises(ValueError, match="no field"):
        LAYOUTS["CapMemCell"].encode({"valu": 3})


def test_every_register_word_has_its_own_address():
    seen: dict[int, str] = {}
    for reg in REGISTERS.values():
        a = reg.all_addresses()
        assert a.shape[1] == reg.layout.n_words
        flat = a.ravel()
        assert len(np.unique(flat)) == flat.size, reg.name
        assert flat.min() >= 0 and flat.max() < 2**32
        for x in np.unique(flat).tolist():
            assert x not in seen, f"{reg.name} and {seen.get(x)} share address 0x{x:08x}"
            seen[x] = reg.name
