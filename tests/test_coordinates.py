"""Coordinates: range checks, index mappings, the column permutation, register dims."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import coordinates as co
from hwlayer.regmap import registers as R

TYPES = co.all_coordinate_types()


def coordinates(t: type) -> st.SearchStrategy:
    """Random valid coordinates of type t."""
    if t is co.CrossbarNodeOnDLS:
        return st.integers(0, R.CROSSBAR_NODES - 1).map(t.from_enum)
    if t is co.PPUMemoryBlockOnDLS:
        return st.tuples(st.integers(0, 1), st.integers(0, 4095)).flatmap(
            lambda ps: st.integers(1, 4096 - ps[1]).map(
                lambda n: t(ppu=ps[0], start=ps[1], size=n)))
    return st.builds(t, **{f: st.integers(lo, hi) for f, (lo, hi) in t._ranges().items()})


def test_the_requested_coordinates_exist():
    names = {t.__name__ for t in TYPES}
    for n in ("SynapseQuadOnDLS", "CADCSampleQuadOnDLS", "CapMemCellOnDLS", "SynramOnDLS",
              "SynapseRowOnDLS", "CADCSampleRowOnDLS", "CapMemBlockOnDLS",
              "PPUMemoryBlockOnDLS", "PPUMemoryOnDLS", "OmnibusAddress", "TimerOnDLS",
              "BarrierOnFPGA", "SpikePackToChipOnDLS", "JTAGIdCodeOnDLS",
              "FPGADeviceDNAOnFPGA", "CrossbarNodeOnDLS"):
        assert n in names


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.__name__)
def test_every_field_is_range_checked(t):
    ranges = t._ranges()
    base = {f: lo for f, (lo, _) in ranges.items()}
    if t is co.CrossbarNodeOnDLS:
        base = {"output": 0, "input": 0}
    for f, (lo, hi) in ranges.items():
        for bad in (lo - 1, hi + 1):
            with pytest.raises(ValueError, match=f"{t.__name__}: {f} must be in {lo}..{hi}"):
                t(**{**base, f: bad})
        with pytest.raises(TypeError, match=f):
            t(**{**base, f: True})
        with pytest.raises(TypeError, match=f):
            t(**{**base, f: float(lo)})
        c = t(**{**base, f: np.int16(lo)})
        assert type(getattr(c, f)) is int


@pytest.mark.parametrize("t", [t for t in TYPES if t.REGISTER], ids=lambda t: t.__name__)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_index_addresses_the_register(t, data):
    c = data.draw(coordinates(t))
    reg = c.register
    idx = c.index()
    assert set(idx) == {d for d, _ in reg.dims}
    a = reg.addresses(**idx)
    assert a.shape[-1] == reg.layout.n_words
    assert a.min() >= 0 and a.max() < 2**32
    # fields named like a register dim take that dim's range
    for f, (lo, hi) in t._ranges().items():
        if f in dict(reg.dims):
            assert (lo, hi) == (0, dict(reg.dims)[f] - 1)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.__name__)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_coordinates_are_values(t, data):
    a = data.draw(coordinates(t))
    b = t(**dataclasses.asdict(a))
    assert a == b and hash(a) == hash(b) and not a < b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.x = 1


def test_equal_fields_of_different_types_differ():
    assert co.SynapseQuadOnDLS(hemisphere=0, row=0, quad=0) != co.SynapseWeightQuadOnDLS(
        hemisphere=0, row=0, quad=0)
    assert co.SynramOnDLS(hemisphere=0) != co.SynapseWeightMatrixOnDLS(hemisphere=0)


def test_sorting_within_a_type():
    cs = [co.CapMemCellOnDLS(block=b, column=c, row=r) for b, c, r in
          [(1, 0, 0), (0, 5, 3), (0, 5, 1)]]
    assert sorted(cs)[0] == co.CapMemCellOnDLS(block=0, column=5, row=1)


def test_error_message_names_the_field_and_range():
    with pytest.raises(ValueError, match=r"CapMemCellOnDLS: column must be in 0\.\.129, got 130"):
        co.CapMemCellOnDLS(block=0, column=130, row=0)


# --- column <-> (quad, entry) -------------------------------------------------------------------

def test_permutation_is_a_bijection_matching_the_spec():
    c = np.arange(256)
    q, e = co.column_to_quad_entry(c)
    assert len(set(zip(q.tolist(), e.tolist(), strict=True))) == 256
    assert np.array_equal(co.quad_entry_to_column(q, e), c)
    # quads 0..31 hold the even columns, 32..63 the odd ones
    assert set(c[q < 32] % 2) == {0} and set(c[q >= 32] % 2) == {1}
    qq, ee = np.meshgrid(np.arange(64), np.arange(4), indexing="ij")
    cols = co.quad_entry_to_column(qq, ee)
    assert np.array_equal(np.sort(cols.ravel()), c)
    assert np.array_equal(cols, co.QUAD_ENTRY_COLUMNS)
    assert np.array_equal(co.QUAD_ENTRY_COLUMNS.ravel()[co.COLUMN_QUAD_ENTRY], c)
    for col in range(256):  # the spec's formulas, one by one
        assert (int(q[col]), int(e[col])) == ((col % 2) * 32 + col // 8, (col // 2) % 4)


@given(st.lists(st.integers(0, 255), max_size=20))
def test_permutation_helpers_are_inverse_on_arrays(cols):
    q, e = co.column_to_quad_entry(np.array(cols, dtype=np.int64))
    assert np.array_equal(co.quad_entry_to_column(q, e), np.array(cols, dtype=np.int64))


@given(st.integers(0, 63), st.integers(0, 3))
def test_permutation_helpers_are_inverse_on_scalars(q, e):
    c = co.quad_entry_to_column(q, e)
    assert c == ((q % 32) * 4 + e) * 2 + q // 32
    assert tuple(int(x) for x in co.column_to_quad_entry(c)) == (q, e)


def test_permutation_helpers_check_ranges():
    with pytest.raises(ValueError, match="column"):
        co.column_to_quad_entry([0, 256])
    with pytest.raises(ValueError, match="quad"):
        co.quad_entry_to_column(64, 0)
    with pytest.raises(ValueError, match="entry"):
        co.quad_entry_to_column(0, 4)
    with pytest.raises(TypeError):
        co.column_to_quad_entry(1.5)


def test_quad_columns():
    assert co.SynapseQuadOnDLS(hemisphere=0, row=0, quad=0).columns == (0, 2, 4, 6)
    assert co.SynapseQuadOnDLS(hemisphere=0, row=0, quad=32).columns == (1, 3, 5, 7)


# --- index mappings -------------------------------------------------------------------------------

@given(st.integers(0, 1), st.integers(0, 127))
def test_synapse_driver_mappings(h, d):
    c = co.SynapseDriverOnDLS(hemisphere=h, driver=d)
    assert c.padi_bus == d % 4 and c.row_select == d // 4
    assert c.rows == (2 * d, 2 * d + 1)
    assert c.enum == 128 * h + d


def test_crossbar_nodes():
    for enum in range(R.CROSSBAR_NODES):
        node = co.CrossbarNodeOnDLS.from_enum(enum)
        assert node.enum == enum and node.index() == {"node": enum}
    for h in range(2):
        for i in range(4):
            node = co.CrossbarNodeOnDLS(output=4 * h + i, input=8 + i)
            assert node.enum == 24 + 9 * i + 4 * h + i
    with pytest.raises(ValueError, match="no crossbar node"):
        co.CrossbarNodeOnDLS(output=9, input=8)
    with pytest.raises(ValueError, match="output must be in 0..11"):
        co.CrossbarNodeOnDLS(output=12, input=8)
    with pytest.raises(ValueError):
        co.CrossbarNodeOnDLS.from_enum(76)


def test_neuron_enum():
    assert co.NeuronConfigOnDLS(hemisphere=1, column=3).enum == 259
    assert co.NeuronConfigOnDLS.from_enum(259) == co.NeuronConfigOnDLS(hemisphere=1, column=3)
    with pytest.raises(ValueError):
        co.NeuronConfigOnDLS.from_enum(512)


def test_cadc_sample_coordinates_choose_the_register_by_readout_type():
    kw = dict(hemisphere=0, channel_type=1, row=0, quad=5)
    assert co.CADCSampleQuadOnDLS(readout_type=0, **kw).register_name == "CADCSampleQuadTriggered"
    assert co.CADCSampleQuadOnDLS(readout_type=1, **kw).register_name == "CADCSampleQuadBuffered"
    assert "readout_type" not in co.CADCSampleQuadOnDLS(readout_type=1, **kw).index()
    row = co.CADCSampleRowOnDLS(hemisphere=1)
    assert (row.row, row.readout_type) == (0, 0)
    assert co.CADCSampleRowOnDLS(hemisphere=1, readout_type=1).register_name.endswith("Buffered")


def test_block_coordinates_cover_their_grid():
    reg = co.SynramOnDLS(hemisphere=1)
    a = reg.register.addresses(**reg.index())
    assert a.shape == (256, 64, 2)
    row = co.SynapseRowOnDLS(hemisphere=0, row=7)
    assert row.register.addresses(**row.index()).shape == (64, 1)
    cap = co.CapMemBlockOnDLS(block=2)
    assert cap.register.addresses(**cap.index()).shape == (130, 24, 1)
    cadc = co.CADCSampleRowOnDLS(hemisphere=0, row=0)
    assert cadc.register.addresses(**cadc.index()).shape == (2, 64, 1)
    ppu = co.PPUMemoryBlockOnDLS(ppu=1, start=10, size=5)
    assert ppu.register.addresses(**ppu.index()).shape == (5, 1)


def test_ppu_memory_block_fits_the_memory():
    co.PPUMemoryBlockOnDLS(ppu=0, start=4095, size=1)
    with pytest.raises(ValueError, match="start \\+ size"):
        co.PPUMemoryBlockOnDLS(ppu=0, start=4095, size=2)
    with pytest.raises(ValueError, match="size must be in 1..4096"):
        co.PPUMemoryBlockOnDLS(ppu=0, start=0, size=0)


def test_omnibus_address_range():
    co.OmnibusAddress(address=2**32 - 1)
    with pytest.raises(ValueError, match="address"):
        co.OmnibusAddress(address=2**32)


def test_default_container_attribute():
    from driver import containers

    for t in TYPES:
        assert t.default_container is containers.DEFAULT_CONTAINER.get(t)
    assert co.CapMemCellOnDLS.default_container is containers.CapMemCell
    assert co.BarrierOnFPGA.default_container is None


def test_coordinates_without_a_register():
    with pytest.raises(TypeError, match="not backed by a chip register"):
        co.BarrierOnFPGA().register  # noqa: B018
