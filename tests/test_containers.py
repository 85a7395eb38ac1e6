"""Containers: round trips, instruction words, golden words from the spec, bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import containers as c
from driver import coordinates as co
from driver import instructions as ins
from hwlayer.regmap import instructions as isa
from hwlayer.regmap.registers import REGISTERS

REGISTER_CONTAINERS = [t for t in c.ALL_CONTAINERS if issubclass(t, c.RegisterContainer)]
BLOCK_CONTAINERS = [t for t in c.ALL_CONTAINERS if issubclass(t, c.BlockContainer)]
FAST = settings(max_examples=50, deadline=None)


def coordinates(t: type) -> st.SearchStrategy:
    if t is co.CrossbarNodeOnDLS:
        return st.integers(0, 75).map(t.from_enum)
    if t is co.PPUMemoryBlockOnDLS:
        return st.tuples(st.integers(0, 1), st.integers(0, 4095)).flatmap(
            lambda ps: st.integers(1, min(64, 4096 - ps[1])).map(
                lambda n: t(ppu=ps[0], start=ps[1], size=n)))
    return st.builds(t, **{f: st.integers(lo, hi) for f, (lo, hi) in t._ranges().items()})


def containers(t: type[c.RegisterContainer]) -> st.SearchStrategy:
    parts = {}
    for f in t.layout.fields:
        one = st.integers(f.minimum, f.max_value)
        parts[f.name] = one if f.entries == 1 else st.lists(one, min_size=f.entries,
                                                            max_size=f.entries)
    return st.fixed_dictionaries(parts).map(lambda kw: t(**kw))


def split_write(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, data) of an omnibus write word sequence."""
    headers, payloads = ins.decode_to_fpga(words)
    assert list(headers[0::2]) == [isa.TO["omnibus_address"]] * (len(words) // 2)
    assert list(headers[1::2]) == [isa.TO["omnibus_data"]] * (len(words) // 2)
    assert not (payloads[0::2] >> np.uint64(36)).any()  # is_read clear
    return payloads[0::2] & np.uint64(0xFFFFFFFF), payloads[1::2]


def responses(data: np.ndarray) -> np.ndarray:
    """Omnibus response payloads with junk above bit 31 (the decoder must mask it)."""
    return np.asarray(data, dtype=np.uint64) | (np.uint64(0x5A) << np.uint64(32))


reg_containers = pytest.mark.parametrize("t", REGISTER_CONTAINERS, ids=lambda t: t.__name__)
block_containers = pytest.mark.parametrize("t", BLOCK_CONTAINERS, ids=lambda t: t.__name__)


# --- register-backed containers -------------------------------------------------------------------

@reg_containers
@FAST
@given(data=st.data())
def test_register_container_round_trips(t, data):
    x = data.draw(containers(t))
    words = x.encode()
    assert words.dtype == np.uint32 and words.shape == (t.layout.n_words,)
    assert t.decode(words) == x
    assert t(**x.to_dict()) == x
    assert hash(t.decode(words)) == hash(x)
    assert eval(repr(x), {t.__name__: t}) == x
    assert pickle.loads(pickle.dumps(x)) == x


@reg_containers
@FAST
@given(data=st.data())
def test_register_container_instructions(t, data):
    x = data.draw(containers(t))
    coord = data.draw(coordinates(t.coordinate_type))
    addresses = t.addresses(coord)
    reg = coord.register
    assert np.array_equal(addresses, reg.addresses(**coord.index()).ravel())
    if t.writable:
        a, d = split_write(x.write_instructions(coord))
        assert np.array_equal(a, addresses) and np.array_equal(d, x.encode())
    else:
        with pytest.raises(TypeError, match="read-only"):
            x.write_instructions(coord)
    if t.readable:
        words, queue, n = t.read_instructions(coord)
        assert queue == "omnibus" and n == t.layout.n_words
        assert np.array_equal(words, ins.omnibus_read(addresses))
        assert t.from_responses(coord, responses(x.encode())) == x
    else:
        with pytest.raises(TypeError, match="write-only"):
            t.read_instructions(coord)
        with pytest.raises(TypeError, match="write-only"):
            t.from_responses(coord, responses(x.encode()))


@reg_containers
def test_register_container_fields_and_access_follow_the_register(t):
    reg = REGISTERS[t.REGISTER]
    x = t()
    assert set(x.to_dict()) == set(reg.layout.field_names)
    assert x.encode().tolist() == reg.layout.reset_words().tolist()
    assert t.readable == (reg.access != "wo") and t.writable == (reg.access != "ro")
    assert c.DEFAULT_CONTAINER[t.coordinate_type] is t


@reg_containers
def test_register_container_out_of_range_fields(t):
    for f in t.layout.fields:
        for bad in (f.minimum - 1, f.max_value + 1):
            v = bad if f.entries == 1 else [f.default] * (f.entries - 1) + [bad]
            with pytest.raises(ValueError, match=f"{t.__name__}: field '{f.name}' = {bad} is "
                                                 f"out of range {f.minimum}..{f.max_value}"):
                t(**{f.name: v})
        with pytest.raises(TypeError, match=f.name):
            t(**{f.name: 1.0 if f.entries == 1 else [1.0] * f.entries})
        if f.entries > 1:
            with pytest.raises(ValueError, match=f"'{f.name}' needs {f.entries} entries"):
                t(**{f.name: [f.default] * (f.entries + 1)})
        if f.width > 1:
            with pytest.raises(TypeError, match=f.name):
                t(**{f.name: True})


def test_register_container_values_and_types():
    d = c.SynapseDriverConfig(row_mode_top="excitatory", row_mode_bottom=2, enable_stp=1)
    assert d.row_mode_top is c.SynapseDriverConfig.RowMode.excitatory
    assert d.row_mode_bottom is c.SynapseDriverConfig.RowMode.inhibitory
    assert d.enable_stp is True and d.enable_receiver is False
    assert d.to_dict()["row_mode_top"] == 1 and type(d.to_dict()["row_mode_top"]) is int
    decoded = c.SynapseDriverConfig.decode(d.encode())
    assert isinstance(decoded.row_mode_top, c.SynapseDriverConfig.RowMode)
    q = c.SynapseQuad(weights=np.array([1, 2, 3, 4]), labels=np.int64(7))
    assert q.weights == (1, 2, 3, 4) and q.labels == (7, 7, 7, 7)
    assert c.ColumnCurrentQuad(enable_synaptic_current_excitatory=[1, 0, True, np.bool_(0)]) \
        .enable_synaptic_current_excitatory == (True, False, True, False)
    assert c.NeuronConfig(readout_source="exc_synin").readout_source == 1
    with pytest.raises(ValueError, match="must be one of"):
        c.NeuronConfig(readout_source="voltage")
    with pytest.raises(TypeError, match="no field"):
        c.CapMemCell(valu=3)
    with pytest.raises(AttributeError, match="replace"):
        d.enable_stp = False
    assert d.replace(enable_stp=False).enable_stp is False and d.enable_stp is True
    with pytest.raises(ValueError, match="offset"):
        d.replace(offset=16)
    assert c.NeuronResetQuad().encode().tolist() == [0]
    assert repr(c.CapMemCell(value=3)) == "CapMemCell(value=3)"
    assert repr(c.CADCChannelConfig()) == "CADCChannelConfig()"
    assert c.CapMemCell(value=3) != c.PPUMemoryWord(value=3)


def test_class_constants():
    assert c.CapMemCell.DisableRefresh == 1023 and c.CapMemCell(value=c.CapMemCell.DisableRefresh)
    assert c.CrossbarNode.drop_all == c.CrossbarNode(mask=0, target=1)
    assert [m.name for m in c.SynapseDriverConfig.RowMode] == [
        "disabled", "excitatory", "inhibitory", "excitatory_and_inhibitory"]
    assert [m.name for m in c.NeuronConfig.ReadoutSource] == [
        "membrane", "exc_synin", "inh_synin", "adaptation"]


# --- golden words (docs/register-map.md, docs/instruction-set.md) ----------------------------

def mac_driver(hagen_dac_offset: int) -> c.SynapseDriverConfig:
    RowMode = c.SynapseDriverConfig.RowMode
    return c.SynapseDriverConfig(
        offset=7, enable_hagen_dac=True, row_address_compare_mask=0b11111,
        enable_address_out=False, enable_receiver=True, row_mode_top=RowMode.excitatory,
        row_mode_bottom=RowMode.inhibitory, hagen_dac_offset=hagen_dac_offset,
        enable_hagen_modulation=True, enable_stp=True, enable_charge_sharing=False)


@pytest.mark.parametrize("offset, w1", [(0, 0x3F60), (10, 0x3560), (63, 0x0060), (31, 0x2060)])
def test_golden_mac_synapse_driver(offset, w1):
    words = mac_driver(offset).encode().tolist()
    assert words == [0xFF70, w1, 0x0058]
    assert w1 == 0x0060 | ((63 - offset) << 8)


def test_golden_synapse_driver_defaults_and_address():
    assert c.SynapseDriverConfig().encode().tolist() == [0x3E00, 0x3F00, 0x40]
    coord = co.SynapseDriverOnDLS(hemisphere=1, driver=5)
    assert c.SynapseDriverConfig.addresses(coord).tolist() == [0x118414, 0x118415, 0x118416]


def test_golden_hagen_neuron_config():
    n = c.NeuronConfig(
        enable_reset_multiplication=True, enable_leak_division=True,
        enable_readout_amplifier=True, readout_source=c.NeuronConfig.ReadoutSource.membrane,
        membrane_capacitor_size=63, enable_synaptic_input_excitatory=True,
        enable_synaptic_input_inhibitory=True,
        enable_synaptic_input_excitatory_small_capacitance=True,
        enable_synaptic_input_inhibitory_small_capacitance=True, enable_fire=True)
    assert n.encode().tolist() == [0x14, 0x10, 0x30, 0xFC, 0x34, 0x00]
    assert c.NeuronConfig.addresses(co.NeuronConfigOnDLS(hemisphere=0, column=130)).tolist() == [
        0x168000 + 2 + 16 + i for i in range(6)]


def test_golden_neuron_backend_defaults():
    assert c.NeuronBackendConfig().encode().tolist() == [0xFF, 0xFF, 0xBC, 0x00]


@pytest.mark.parametrize("w, stored", [(1, 0x10), (2, 0x08), (32, 0x20), (63, 0x3F), (0, 0)])
def test_golden_weight_permutation(w, stored):
    assert c.SynapseWeightQuad(weights=(w, 0, 0, 0)).encode().tolist() == [stored << 24]
    assert c.SynapseQuad(weights=(0, 0, 0, w)).encode().tolist() == [stored, 0]


def test_golden_synapse_quad():
    q = c.SynapseQuad(weights=(1, 2, 32, 63))
    assert q.encode().tolist() == [0x1008203F, 0]
    coord = co.SynapseQuadOnDLS(hemisphere=1, row=5, quad=2)
    base = 0x03CF0000 + 5 * 128 + 2
    assert c.SynapseQuad.addresses(coord).tolist() == [base, base + 64]
    full = c.SynapseQuad(weights=(1, 0, 0, 0), time_calibs=(3, 0, 0, 0), labels=(0, 0, 0, 63),
                         amp_calibs=(0, 0, 0, 2))
    assert full.encode().tolist() == [0xD0000000, 0xBF]


def test_golden_capmem_cell_write():
    words = c.CapMemCell(value=500).write_instructions(co.CapMemCellOnDLS(block=0, column=3,
                                                                          row=0))
    assert words.dtype == np.uint64
    assert words.tolist() == [0x0B00000F00140060, 0x0C000000000001F4]
    read, queue, n = c.CapMemCell.read_instructions(co.CapMemCellOnDLS(block=3, column=0, row=1))
    assert read.tolist() == [0x0B00001F00158001] and (queue, n) == ("omnibus", 1)


@pytest.mark.parametrize("offset, word", [(-128, 0x00), (0, 0x80), (127, 0xFF), (-1, 0x7F)])
def test_golden_cadc_channel_offset(offset, word):
    assert c.CADCChannelConfig(offset=offset).encode().tolist() == [word]
    assert c.CADCChannelConfig.decode([word]).offset == offset


def test_golden_cadc_channel_and_sample_addresses():
    coord = co.CADCChannelConfigOnDLS(hemisphere=1, channel_type=1, column=130)
    assert c.CADCChannelConfig.addresses(coord).tolist() == [0x03400000 + 2 * 2 + 1]
    kw = dict(hemisphere=0, channel_type=1, row=0, quad=3)
    trig = co.CADCSampleQuadOnDLS(readout_type=0, **kw)
    buf = co.CADCSampleQuadOnDLS(readout_type=1, **kw)
    assert c.CADCSampleQuad.addresses(trig).tolist() == [0x02CC0003]
    assert c.CADCSampleQuad.addresses(buf).tolist() == [0x02EC0003]
    s = c.CADCSampleQuad.from_responses(buf, np.array([0x01020304], dtype=np.uint64))
    assert s.samples == (1, 2, 3, 4)


def test_golden_crossbar_node():
    for h in range(2):
        for i in range(4):
            coord = co.CrossbarNodeOnDLS(output=4 * h + i, input=8 + i)
            assert c.CrossbarNode.addresses(coord).tolist() == [0x130019 + 24 + 9 * i + 4 * h + i]
    assert c.CrossbarNode.drop_all.encode().tolist() == [1 << 16]
    assert c.CrossbarNode(mask=0x3FFF, target=0x2A, enable_drop_counter=True).encode().tolist() \
        == [0x802A3FFF]


def test_golden_spike_packs():
    at = co.SpikePackToChipOnDLS()
    assert c.SpikePackToChip(labels=(0xABCD,)).write_instructions(at).tolist() == [
        0x0D0000000000ABCD]
    assert c.SpikePackToChip(labels=0x1).write_instructions(at).tolist() == [0x0D00000000000001]
    assert c.SpikePackToChip(labels=(0x1111, 0x2222)).write_instructions(at).tolist() == [
        0x0E00000011112222]
    assert c.SpikePackToChip(labels=(0x1234, 0x5678, 0x9ABC)).write_instructions(at).tolist() \
        == [0x0F00123456789ABC]


def test_golden_fpga_words():
    timer = co.TimerOnDLS()
    assert c.Timer().write_instructions(timer).tolist() == [0x0400000000000000]
    assert c.Timer.Value(12500).block_instructions(timer).tolist() == [0x05000000000030D4]
    words, queue, n = c.Timer.read_instructions(timer)
    assert words.tolist() == [0x0B00001F8800000C] and (queue, n) == ("omnibus", 1)
    assert c.Timer.from_responses(timer, np.array([77], dtype=np.uint64)) == c.Timer(77)
    barrier = co.BarrierOnFPGA()
    assert c.Barrier.omnibus.block_instructions(barrier).tolist() == [0x0700000000000001]
    assert (c.Barrier.omnibus | c.Barrier.systime).block_instructions(barrier).tolist() == [
        0x0700000000000005]
    for name, mask in isa.BARRIER.items():
        assert getattr(c.Barrier, name) == c.Barrier(mask)
    poll = co.PollingOmnibusBlockOnFPGA()
    assert c.PollingOmnibusBlock().block_instructions(poll).tolist() == [0x0800000000000001]
    assert c.PollingOmnibusBlock(False).block_instructions(poll).tolist() == [0x0800000000000000]
    assert c.ResetChip(True).write_instructions(co.ResetChipOnDLS()).tolist() == [
        0x0900000000000001]
    assert c.ResetChip(False).write_instructions(co.ResetChipOnDLS()).tolist() == [
        0x0900000000000000]
    assert c.SystimeSync().write_instructions(co.SystimeSyncOnFPGA()).tolist() == [
        0x0600000000000001]
    assert c.ResetJTAGTap().write_instructions(co.ResetJTAGTapOnDLS()).tolist() == [0]
    assert c.JTAGClockScaler(value=255).write_instructions(co.JTAGClockScalerOnDLS()).tolist() \
        == [0x01000000000000FF]


def test_timer_refuses_nonzero_writes():
    with pytest.raises(ValueError, match="reset to 0"):
        c.Timer(5).write_instructions(co.TimerOnDLS())
    with pytest.raises(ValueError, match="value"):
        c.Timer.Value(2**32)
    with pytest.raises(TypeError):
        c.Timer.Value(1.5)


def test_loopback_and_jtag_reads():
    words, queue, n = c.NullPayloadReadable.read_instructions(co.NullPayloadReadableOnFPGA())
    assert words.tolist() == [isa.TICK_WORD] and (queue, n) == ("loopback", 1)
    assert c.NullPayloadReadable.from_responses(
        co.NullPayloadReadableOnFPGA(), np.array([1], dtype=np.uint64)) == c.NullPayloadReadable()
    words, queue, n = c.JTAGIdCode.read_instructions(co.JTAGIdCodeOnDLS())
    assert words.tolist() == [0x0200000000000001, 0x0301200000000000]
    assert (queue, n) == ("jtag", 1)
    got = c.JTAGIdCode.from_responses(co.JTAGIdCodeOnDLS(),
                                      np.array([(1 << 32) | isa.JTAG_IDCODE], dtype=np.uint64))
    assert got.value == isa.JTAG_IDCODE
    with pytest.raises(TypeError, match="read-only"):
        c.JTAGIdCode().write_instructions(co.JTAGIdCodeOnDLS())
    with pytest.raises(TypeError, match="write-only"):
        c.ResetChip.read_instructions(co.ResetChipOnDLS())


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 15))
def test_omnibus_word(address, value, be):
    at = co.OmnibusAddress(address=address)
    w = c.OmnibusWord(value=value, byte_enables=be).write_instructions(at)
    assert w.tolist() == [(11 << 56) | (be << 32) | address, (12 << 56) | value]
    words, queue, n = c.OmnibusWord.read_instructions(at)
    assert words.tolist() == [(11 << 56) | (1 << 36) | (0xF << 32) | address]
    assert c.OmnibusWord.from_responses(at, responses([value])) == c.OmnibusWord(value=value)


def test_fpga_container_bad_input():
    with pytest.raises(ValueError, match="byte_enables"):
        c.OmnibusWord(value=0, byte_enables=16)
    with pytest.raises(ValueError, match="value"):
        c.OmnibusWord(value=-1)
    with pytest.raises(ValueError, match="1..3 labels"):
        c.SpikePackToChip(labels=(1, 2, 3, 4))
    with pytest.raises(ValueError, match="1..3 labels"):
        c.SpikePackToChip(labels=())
    with pytest.raises(ValueError, match="labels"):
        c.SpikePackToChip(labels=(1 << 16,))
    with pytest.raises(ValueError, match="value"):
        c.JTAGClockScaler(value=256)
    with pytest.raises(ValueError, match="mask"):
        c.Barrier(32)
    with pytest.raises(TypeError):
        c.ResetChip(value=2.0)
    with pytest.raises(ValueError):
        c.ResetChip(value=2)
    with pytest.raises(TypeError, match="Barrier lives at BarrierOnFPGA|Barrier blocks at"):
        c.Barrier.omnibus.block_instructions(co.TimerOnDLS())


# --- protocol errors ----------------------------------------------------------------------------

def test_wrong_coordinate_type_names_both_types():
    with pytest.raises(TypeError,
                       match="CapMemCell lives at CapMemCellOnDLS, got a SynapseQuadOnDLS"):
        c.CapMemCell(value=1).write_instructions(co.SynapseQuadOnDLS(hemisphere=0, row=0, quad=0))
    with pytest.raises(TypeError, match="SynapseQuad lives at SynapseQuadOnDLS"):
        c.SynapseQuad.read_instructions(co.SynapseWeightQuadOnDLS(hemisphere=0, row=0, quad=0))
    with pytest.raises(TypeError, match="SynapseWeightMatrix lives at SynapseWeightMatrixOnDLS"):
        c.SynapseWeightMatrix().write_instructions(co.SynramOnDLS(hemisphere=0))
    with pytest.raises(TypeError, match="Timer.Value blocks at TimerOnDLS|Value blocks at"):
        c.Timer.Value(3).block_instructions(co.BarrierOnFPGA())


def test_access_errors():
    with pytest.raises(TypeError, match="PADIEvent is write-only"):
        c.PADIEvent.read_instructions(co.PADIEventOnDLS(hemisphere=0))
    with pytest.raises(TypeError, match="NeuronResetQuad is write-only"):
        c.NeuronResetQuad.read_instructions(co.NeuronResetQuadOnDLS(hemisphere=0, quad=0))
    with pytest.raises(TypeError, match="MADCControl is write-only"):
        c.MADCControl.read_instructions(co.MADCControlOnDLS())
    with pytest.raises(TypeError, match="CADCSampleQuad is read-only"):
        c.CADCSampleQuad().write_instructions(co.CADCSampleQuadOnDLS(
            hemisphere=0, readout_type=0, channel_type=0, row=0, quad=0))
    with pytest.raises(TypeError, match="CADCSampleRow is read-only"):
        c.CADCSampleRow().write_instructions(co.CADCSampleRowOnDLS(hemisphere=0))
    for t in (c.CrossbarInputDropCounter, c.CrossbarOutputEventCounter, c.PPUStatusRegister,
              c.FPGADeviceDNA):
        assert t.readable and not t.writable


def test_wrong_number_of_responses():
    coord = co.NeuronConfigOnDLS(hemisphere=0, column=0)
    with pytest.raises(ValueError, match="decodes 6 responses, got 5"):
        c.NeuronConfig.from_responses(coord, np.zeros(5, dtype=np.uint64))


def test_default_containers():
    for t in co.all_coordinate_types():
        if t in (co.BarrierOnFPGA, co.PollingOmnibusBlockOnFPGA):
            with pytest.raises(TypeError, match="no default container"):
                c.default_container(t())
            continue
        assert t in c.DEFAULT_CONTAINER, t.__name__
        assert c.DEFAULT_CONTAINER[t].coordinate_type is t
    assert c.default_container(co.SynramOnDLS(hemisphere=0)) is c.SynapseMatrix
    assert c.default_container(co.TimerOnDLS()) is c.Timer
    with pytest.raises(TypeError):
        c.default_container(object())


# --- block containers -----------------------------------------------------------------------------

def block_arrays(t: type[c.BlockContainer], coord, rng: np.random.Generator) -> dict:
    shape = t.SHAPE or (coord.size,)
    return {k: rng.integers(t.layout[lf].minimum, t.layout[lf].max_value + 1, size=shape)
            for k, lf in t.FIELDS.items()}


@block_containers
@settings(max_examples=10, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_block_container_round_trips(t, data, seed):
    coord = data.draw(coordinates(t.coordinate_type))
    x = t(**block_arrays(t, coord, np.random.default_rng(seed)))
    addresses = t.addresses(coord)
    words, queue, n = t.read_instructions(coord)
    assert queue == "omnibus" and n == addresses.size
    assert np.array_equal(words, ins.omnibus_read(addresses))
    assert t(**x.to_dict()) == x
    if t.writable:
        a, d = split_write(x.write_instructions(coord))
        assert np.array_equal(a, addresses)
        assert np.array_equal(d, x.encode(coord))
        assert t.from_responses(coord, responses(d)) == x
        assert t.decode(coord, d) == x


@pytest.mark.parametrize("t, quad_t, field", [
    (c.SynapseMatrix, c.SynapseQuad, None),
    (c.SynapseWeightMatrix, c.SynapseWeightQuad, "weights"),
    (c.SynapseLabelMatrix, c.SynapseLabelQuad, "labels"),
])
@settings(max_examples=10, deadline=None)
@given(h=st.integers(0, 1), seed=st.integers(0, 2**32 - 1),
       picks=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 63)), min_size=1,
                      max_size=8))
def test_synapse_matrix_agrees_with_quads(t, quad_t, field, h, seed, picks):
    """The vectorised block path equals quad containers built column by column."""
    rng = np.random.default_rng(seed)
    coord = t.coordinate_type(hemisphere=h)
    x = t(**block_arrays(t, coord, rng))
    a, d = split_write(x.write_instructions(coord))
    words = dict(zip(a.tolist(), d.tolist(), strict=True))
    assert len(words) == a.size
    for row, quad in picks:
        qc = quad_t.coordinate_type(hemisphere=h, row=row, quad=quad)
        cols = list(qc.columns)
        fields = t.FIELDS if field is None else {field: field}
        q = quad_t(**{lf: [int(getattr(x, k)[row, col]) for col in cols]
                      for k, lf in fields.items()})
        for addr, w in zip(quad_t.addresses(qc).tolist(), q.encode().tolist(), strict=True):
            assert words[addr] == w


@settings(max_examples=10, deadline=None)
@given(row=st.integers(0, 255), seed=st.integers(0, 2**32 - 1))
def test_synapse_rows_agree_with_quads(row, seed):
    rng = np.random.default_rng(seed)
    weights = rng.integers(0, 64, 256)
    coord = co.SynapseRowOnDLS(hemisphere=1, row=row)
    a, d = split_write(c.SynapseWeightRow(weights=weights).write_instructions(coord))
    assert a.size == 64
    for quad in range(64):
        qc = co.SynapseWeightQuadOnDLS(hemisphere=1, row=row, quad=quad)
        q = c.SynapseWeightQuad(weights=[int(weights[col]) for col in qc.columns])
        assert (a[quad], d[quad]) == (c.SynapseWeightQuad.addresses(qc)[0], q.encode()[0])
    labels = rng.integers(0, 64, 256)
    lc = co.SynapseLabelRowOnDLS(hemisphere=1, row=row)
    a, d = split_write(c.SynapseLabelRow(labels=labels).write_instructions(lc))
    assert c.SynapseLabelRow.from_responses(lc, d) == c.SynapseLabelRow(labels=labels)


@pytest.mark.parametrize("readout_type", [0, 1])
def test_cadc_sample_row(readout_type):
    rng = np.random.default_rng(readout_type)
    causal, acausal = rng.integers(0, 256, 256), rng.integers(0, 256, 256)
    coord = co.CADCSampleRowOnDLS(hemisphere=1, row=0, readout_type=readout_type)
    words, queue, n = c.CADCSampleRow.read_instructions(coord)
    assert (queue, n) == ("omnibus", 128)
    expected_addresses, payloads = [], []
    for t, samples in ((0, causal), (1, acausal)):
        for quad in range(64):
            # a triggered row read triggers the first quad of each type; the rest is buffered
            rt = 1 if quad > 0 else readout_type
            qc = co.CADCSampleQuadOnDLS(hemisphere=1, readout_type=rt, channel_type=t,
                                        row=0, quad=quad)
            expected_addresses += c.CADCSampleQuad.addresses(qc).tolist()
            payloads += c.CADCSampleQuad(samples=[int(samples[col]) for col in qc.columns]) \
                .encode().tolist()
    assert np.array_equal(words, ins.omnibus_read(expected_addresses))
    row = c.CADCSampleRow.from_responses(coord, responses(payloads))
    assert np.array_equal(row.causal, causal) and np.array_equal(row.acausal, acausal)
    assert row == c.CADCSampleRow(causal=causal, acausal=acausal)


def test_capmem_block():
    values = np.zeros((130, 24), dtype=np.int64)
    values[3, 0] = 500
    values[129, 23] = c.CapMemCell.DisableRefresh
    coord = co.CapMemBlockOnDLS(block=0)
    w = c.CapMemBlock(values=values).write_instructions(coord)
    assert w.size == 2 * 130 * 24
    a, d = split_write(w)
    i = int(np.flatnonzero(a == 0x140060)[0])
    assert d[i] == 500 and d[a.tolist().index(0x140000 + 129 * 32 + 23)] == 1023
    assert c.CapMemBlock.from_responses(coord, d) == c.CapMemBlock(values=values)
    assert c.CapMemBlock().values.shape == (130, 24)


def test_ppu_memory():
    coord = co.PPUMemoryBlockOnDLS(ppu=1, start=100, size=3)
    w = c.PPUMemoryBlock(words=[1, 2, 2**32 - 1]).write_instructions(coord)
    a, d = split_write(w)
    assert a.tolist() == [0x03800064, 0x03800065, 0x03800066] and d.tolist() == [1, 2, 2**32 - 1]
    with pytest.raises(ValueError, match="does not fit"):
        c.PPUMemoryBlock(words=[1, 2]).write_instructions(coord)
    with pytest.raises(TypeError, match="needs the field 'words'"):
        c.PPUMemoryBlock()
    full = c.PPUMemory(words=np.arange(4096))
    a, d = split_write(full.write_instructions(co.PPUMemoryOnDLS(ppu=0)))
    assert a[0] == 0x02800000 and a[-1] == 0x02800FFF and np.array_equal(d, np.arange(4096))


def test_block_container_bad_input():
    with pytest.raises(ValueError, match="SynapseWeightMatrix: weights: field 'weights' = 64"):
        c.SynapseWeightMatrix(weights=np.full((256, 256), 64))
    with pytest.raises(ValueError, match="shape"):
        c.SynapseWeightMatrix(weights=np.zeros((128, 256), dtype=int))
    with pytest.raises(TypeError, match="integers"):
        c.SynapseWeightRow(weights=np.zeros(256))
    with pytest.raises(ValueError, match="CapMemBlock: values: field 'value' = 1024"):
        c.CapMemBlock(values=np.full((130, 24), 1024))
    with pytest.raises(ValueError, match="offset|value.*-1"):
        c.PPUMemoryBlock(words=[-1])
    with pytest.raises(ValueError, match="1-dimensional"):
        c.PPUMemoryBlock(words=[[1]])
    with pytest.raises(TypeError, match="no field"):
        c.SynapseMatrix(weight=np.zeros((256, 256), dtype=int))
    m = c.SynapseWeightMatrix()
    with pytest.raises(ValueError):
        m.weights[0, 0] = 1  # read-only arrays
    with pytest.raises(AttributeError):
        m.weights = None
