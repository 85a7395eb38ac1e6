"""The one state model (docs/state-model.md): what the host knows (`connection.shadow`, a
`ChipImage`) follows every write path, the MAC trusts it, and the chip agrees with it.

The property test interleaves writes through every synapse view (quads, rows, matrices),
raw omnibus writes with byte enables, cocolists, CADC switched off and on, and MAC runs on
the ideal chip; after each MAC the chip holds the MAC's weights, the result is the exact
formula for them, and a fresh chip given the host's final configuration returns the same.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver import containers as C
from driver import coordinates as co
from driver.base_config import hagen_base_configuration
from driver.chip_image import ChipImage
from driver.cocolist import Cocolist
from driver.mac import MAC, ChipNotConfiguredError
from hwlayer.regmap import REGISTERS
from hwlayer.regmap.storage import storage_map

ROWS = 12  # the writes aim at the rows and quads the small MACs below use
QUADS = (0, 1, 32, 33)

_u6 = st.integers(0, 63)
_quad_index = st.tuples(st.integers(0, 1), st.integers(0, ROWS - 1), st.sampled_from(QUADS))
quad_write = st.tuples(st.just("quad"), st.sampled_from(["SynapseQuad", "SynapseWeightQuad",
                                                          "SynapseLabelQuad"]),
                       _quad_index, st.tuples(_u6, _u6, _u6, _u6))
row_write = st.tuples(st.just("row"), st.sampled_from(["weights", "labels"]),
                      st.tuples(st.integers(0, 1), st.integers(0, ROWS - 1)), _u6)
matrix_write = st.tuples(st.just("matrix"), st.sampled_from(["SynapseMatrix",
                                                            "SynapseWeightMatrix"]),
                         st.integers(0, 1), _u6)
raw_write = st.tuples(st.just("raw"), st.sampled_from(["SynapseQuad", "SynapseWeightQuad",
                                                        "SynapseLabelQuad"]),
                      _quad_index, st.integers(0, 2**32 - 1), st.integers(0, 15))
cocolist = st.tuples(st.just("cocolist"), st.lists(st.tuples(_quad_index, _u6), min_size=1,
                                                   max_size=4))
cadc = st.tuples(st.just("cadc"), st.booleans())
mac = st.tuples(st.just("mac"), st.integers(1, 5), st.integers(1, 6), st.integers(1, 3),
                st.booleans(), st.integers(0, 2**31))
operation = st.one_of(quad_write, row_write, matrix_write, raw_write, cocolist, cadc, mac)


def exact(x: np.ndarray, w: np.ndarray, num_sends: int) -> np.ndarray:
    """The ideal chip: per 128-input chunk clamp(floor(ns x.W / 500)), int8 sums."""
    total = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    for i in range(0, w.shape[0], 128):
        s = num_sends * (x[:, i:i + 128].astype(np.int64) @ w[i:i + 128].astype(np.int64))
        total += np.clip(s // 500, -128, 127)
    return np.clip(total, -128, 127)


def write(conn, b: PlaybackProgramBuilder, op) -> None:
    """Append one drawn write to `b`."""
    kind = op[0]
    if kind == "quad":
        _, name, (h, row, q), values = op
        coord = getattr(co, name + "OnDLS")(hemisphere=h, row=row, quad=q)
        field = {"SynapseLabelQuad": "labels"}.get(name, "weights")
        b.write(coord, getattr(C, name)(**{field: values}))
    elif kind == "row":
        _, field, (h, row), value = op
        coord = (co.SynapseRowOnDLS if field == "weights" else co.SynapseLabelRowOnDLS)(
            hemisphere=h, row=row)
        container = C.SynapseWeightRow if field == "weights" else C.SynapseLabelRow
        b.write(coord, container(**{field: np.full(256, value)}))
    elif kind == "matrix":
        _, name, h, value = op
        coord = (co.SynramOnDLS if name == "SynapseMatrix" else co.SynapseWeightMatrixOnDLS)(
            hemisphere=h)
        b.write(coord, getattr(C, name)(weights=np.full((256, 256), value)))
    elif kind == "raw":
        _, name, (h, row, q), value, byte_enables = op
        address = REGISTERS[name].addresses(hemisphere=h, row=row, quad=q).ravel()[-1]
        b.write_omnibus([address], [value], byte_enables)
    elif kind == "cocolist":
        cc = Cocolist()
        for (h, row, q), value in op[1]:
            cc.append(co.SynapseWeightQuadOnDLS(hemisphere=h, row=row, quad=q),
                      C.SynapseWeightQuad(weights=(value,) * 4))
        cc.apply(b)
    elif kind == "cadc":
        b.write(co.CADCConfigOnDLS(hemisphere=0), C.CADCConfig(enable=op[1]))


def held_weights(conn, n_in: int, n_out: int, hemisphere: int = 0) -> np.ndarray:
    """The signed weights (inputs, outputs) the chip holds for a one-tile MAC (read back)."""
    b = PlaybackProgramBuilder()
    w = b.read(co.SynapseWeightMatrixOnDLS(hemisphere=hemisphere))
    lab = b.read(co.SynapseLabelMatrixOnDLS(hemisphere=hemisphere))
    conn.run(b.done())
    weights, labels = np.asarray(w.get().weights), np.asarray(lab.get().labels)
    assert not labels[:2 * n_in, :n_out].any(), "the MAC's synapses must hold label 0"
    return weights[1:2 * n_in:2, :n_out] - weights[0:2 * n_in:2, :n_out]


def fresh_with(image: ChipImage, chip_id="ideal", seed=None) -> EmulatorConnection:
    """A new connection given the configuration the host knows (image) in one program."""
    conn = EmulatorConnection(chip_id, seed=seed)
    b = PlaybackProgramBuilder()
    b.append_words(ChipImage().switch_words(image))
    conn.run(b.done())
    return conn


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=8))
def test_every_write_path_reaches_what_the_mac_trusts(ops):
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    cadc_on = True
    for op in ops + [("cadc", True), ("mac", 3, 4, 2, False, 7)]:
        if op[0] != "mac":
            b = PlaybackProgramBuilder()
            write(conn, b, op)
            conn.run(b.done())
            cadc_on = op[1] if op[0] == "cadc" else cadc_on
            continue
        _, n_in, n_out, batch, two_tiles, seed = op
        rng = np.random.default_rng(seed)
        n_in = n_in + 128 if two_tiles else n_in
        w = rng.integers(-63, 64, (n_in, n_out))
        x = rng.integers(0, 32, (batch, n_in))
        if not cadc_on:
            with pytest.raises(ChipNotConfiguredError, match="CADCConfig.enable"):
                MAC(w, num_sends=2).run(x, conn)
            continue
        y = MAC(w, num_sends=2).run(x, conn)
        tiles = [(0, min(n_in, 128))] + ([(1, n_in - 128)] if two_tiles else [])
        held = np.concatenate([held_weights(conn, n, n_out, h) for h, n in tiles])
        np.testing.assert_array_equal(held, w)  # the chip holds what the MAC meant
        np.testing.assert_array_equal(y, exact(x, held, 2))
        again = fresh_with(conn.shadow)
        np.testing.assert_array_equal(MAC(w, num_sends=2).run(x, again), y)
    # the host's knowledge equals the chip's storage wherever only the host writes
    host = storage_map().host_owned
    np.testing.assert_array_equal(conn.shadow.words[host], conn._chip.storage[host])


def test_a_raw_matrix_write_after_a_mac_is_seen_by_the_next_mac():
    """The table's first row: SynapseMatrix() through the raw view, then the same MAC."""
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    w, x = np.full((4, 4), 20), np.full((1, 4), 31)
    first = MAC(w).run(x, conn)
    b = PlaybackProgramBuilder()
    b.write(co.SynramOnDLS(hemisphere=0), C.SynapseMatrix())
    conn.run(b.done())
    np.testing.assert_array_equal(MAC(w).run(x, conn), first)
    np.testing.assert_array_equal(first, exact(x, w, 1))


@pytest.mark.parametrize("chip_id", [0, "ideal"])
def test_the_mac_refuses_a_chip_that_was_never_configured(chip_id):
    conn = EmulatorConnection(chip_id)
    with pytest.raises(ChipNotConfiguredError, match="hagen_base_configuration"):
        MAC(np.ones((2, 2), int)).run(np.ones((1, 2), int), conn)
    conn.run(hagen_base_configuration().to_program())
    assert MAC(np.ones((2, 2), int)).run(np.ones((1, 2), int), conn).shape == (1, 2)


def test_a_register_the_mac_depends_on_changed_makes_it_refuse():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    b = PlaybackProgramBuilder()
    coord = co.SynapseDriverOnDLS(hemisphere=1, driver=3)
    b.write(coord, conn.shadow.read(coord, C.SynapseDriverConfig).replace(
        enable_hagen_modulation=False))
    conn.run(b.done())
    with pytest.raises(ChipNotConfiguredError, match="enable_hagen_modulation"):
        MAC(np.ones((2, 2), int)).run(np.ones((1, 2), int), conn)


def test_the_mac_checks_the_timer_range_when_it_compiles():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    mac = MAC(np.ones((1, 1), int), num_sends=5000, wait_between_events=2**20 - 1)
    with pytest.raises(ValueError, match="num_sends=5000.*timer"):
        mac.run(np.ones((1, 1), int), conn)


def test_the_image_follows_views_of_one_word():
    """A weight written through the weight view is what the raw quad reads, and back."""
    image = ChipImage()
    b = PlaybackProgramBuilder()
    b.write(co.SynapseQuadOnDLS(hemisphere=1, row=7, quad=9),
            C.SynapseQuad(weights=(1, 2, 3, 4), labels=(5, 6, 7, 8)))
    b.write(co.SynapseWeightQuadOnDLS(hemisphere=1, row=7, quad=9),
            C.SynapseWeightQuad(weights=(9, 10, 11, 12)))
    image.update(b.done().words)
    quad = image.read(co.SynapseQuadOnDLS(hemisphere=1, row=7, quad=9), C.SynapseQuad)
    assert quad.weights == (9, 10, 11, 12) and quad.labels == (5, 6, 7, 8)


def test_chip_0_same_final_configuration_same_output():
    """Two paths to one configuration on a seeded chip 0 (each in one program, so both
    chips draw the same noise): the MAC's outputs are bit-identical."""
    rng = np.random.default_rng(5)
    a = EmulatorConnection(0, seed=11)
    a.run(hagen_base_configuration().to_program())
    b = PlaybackProgramBuilder()
    for k in range(60):  # writes through every view, raw words and a cocolist
        h, row, q = int(rng.integers(2)), int(rng.integers(ROWS)), int(rng.choice(QUADS))
        v = tuple(int(i) for i in rng.integers(0, 64, 4))
        write(a, b, [("quad", "SynapseQuad", (h, row, q), v),
                     ("quad", "SynapseLabelQuad", (h, row, q), v),
                     ("raw", "SynapseWeightQuad", (h, row, q), int(rng.integers(2**32)), 5),
                     ("row", "weights", (h, row), v[0]),
                     ("cocolist", [((h, row, q), v[1])])][k % 5])
    a.run(b.done())
    twin = EmulatorConnection(0, seed=11)
    twin.run(hagen_base_configuration().to_program())
    c = PlaybackProgramBuilder()
    c.append_words(twin.shadow.switch_words(a.shadow))
    twin.run(c.done())
    assert twin.shadow.differs(a.shadow).size == 0
    w = rng.integers(-63, 64, (140, 20))
    x = rng.integers(0, 32, (30, 140))
    np.testing.assert_array_equal(MAC(w, num_sends=3).run(x, a), MAC(w, num_sends=3).run(x, twin))


# -- raw word paths refuse what they cannot represent ----------------------------------------------

@pytest.mark.parametrize("call, shown", [
    (lambda b: b.write_omnibus([0x0014_0060], [500.9]), "values must be integers, got 500.9"),
    (lambda b: b.write_omnibus([0x0014_0060], [float("nan")]), "values must be integers, got nan"),
    (lambda b: b.read_omnibus([0x0014_0060 + 0.7]), "addresses must be integers, got 1310816.7"),
    (lambda b: b.wait_until(1.9), "cycles must be integers, got 1.9"),
    (lambda b: b.wait_until(-1), "cycles = -1 is out of range"),
    (lambda b: b.wait_until(2**32), "cycles = 4294967296 is out of range"),
    (lambda b: b.write_omnibus([2**32], [0]), "addresses = 4294967296 is out of range"),
    (lambda b: b.write_omnibus([1], [0], 16), "byte_enables = 16 is out of range"),
    (lambda b: b.append_words(np.array([1.5])), "words must be integers, got 1.5"),
    (lambda b: b.append_words(np.array([-3])), "words = -3 is out of range"),
])
def test_raw_word_paths_name_the_argument_and_the_value(call, shown):
    b = PlaybackProgramBuilder()
    with pytest.raises(ValueError) as e:
        call(b)
    assert shown in str(e.value)
    assert b.empty()  # nothing was appended


@pytest.mark.parametrize("call", [
    lambda b: b.wait_until("3"),
    lambda b: b.write_omnibus([True], [1]),
    lambda b: b.append_words(np.array([1]), responses=1.5),
])
def test_raw_word_paths_refuse_what_is_not_a_number(call):
    with pytest.raises(TypeError):
        call(PlaybackProgramBuilder())


def test_integral_floats_and_unsigned_words_still_pass():
    b = PlaybackProgramBuilder()
    b.write_omnibus([0x0014_0060], [500.0])
    b.wait_until(np.uint64(12))
    b.append_words(np.array([0x0A00_0000_0000_0001], dtype=np.uint64))
    words = b.done().words
    assert int(words[1]) & 0xFFFFFFFF == 500 and int(words[2]) & 0xFFFFFFFF == 12
