"""Instruction codec: golden words of docs/instruction-set.md and round-trip properties."""

import numpy as np
import pytest
from bitstring import BitArray
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import instructions as ins
from hwlayer.regmap import instructions as isa


def test_golden_to_fpga_words():
    assert ins.encode("timing_setup")[0] == 0x0400000000000000
    assert ins.wait_until(12500)[0] == 0x05000000000030D4
    assert ins.encode("timing_barrier", isa.BARRIER["omnibus"])[0] == 0x0700000000000001
    assert ins.encode("system_reset", 1)[0] == 0x0900000000000001
    assert ins.encode("system_loopback", 0)[0] == 0x0A00000000000000 == isa.HALT_WORD
    assert ins.encode("system_loopback", 1)[0] == 0x0A00000000000001
    a, v = 0x00140060, 0x000001F4
    assert list(ins.omnibus_write([a], [v])) == [0x0B00000F_00140060, 0x0C000000_000001F4]
    assert ins.omnibus_read([a])[0] == 0x0B00001F_00140060
    assert ins.spike_packs(np.array([[0xABCD, 0, 0]]), [1])[0] == 0x0D000000_0000ABCD
    assert ins.spike_packs(np.array([[0x1111, 0x2222, 0x3333]]), [3])[0] == 0x0F00_1111_2222_3333
    assert ins.spike_packs(np.array([[0x1111, 0x2222, 0]]), [2])[0] == 0x0E000000_11112222


def test_header_width_and_dictionaries():
    assert len(isa.TO_FPGA) == 16 and len(isa.FROM_FPGA) == 13
    assert isa.TO["timing_setup"] == 4 and isa.TO["system_reset"] == 9
    assert [i.message_bits for i in isa.FROM_FPGA if i.message_bits > 64] == [80, 80]


def _reference_word(header, payload):
    """bitstring: 8-bit header left-aligned, payload right-aligned in 64 bits."""
    return (BitArray(uint=header, length=8) + BitArray(uint=payload, length=56)).uint


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 2**56 - 1)), min_size=1,
                max_size=40))
def test_to_fpga_arrays_round_trip(msgs):
    headers = np.array([h for h, _ in msgs])
    payloads = np.array(
        [p & ((1 << isa.TO_FPGA[h].payload_bits) - 1) for h, p in msgs], dtype=np.uint64)
    words = np.concatenate([
        ins.encode(isa.TO_FPGA[h].name, int(p)) if isa.TO_FPGA[h].payload_bits
        else ins.encode(isa.TO_FPGA[h].name) for h, p in zip(headers, payloads)])
    assert [int(w) for w in words] == [_reference_word(int(h), int(p))
                                       for h, p in zip(headers, payloads)]
    h2, p2 = ins.decode_to_fpga(words)
    assert list(h2) == list(headers) and list(p2) == list(payloads)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                          st.integers(0, 15)), min_size=1, max_size=30))
def test_omnibus_write_vectorised_equals_single(triples):
    a, v, be = (np.array(x, dtype=np.int64) for x in zip(*triples))
    bulk = ins.omnibus_write(a, v, be)
    single = np.concatenate([ins.omnibus_write([x], [y], z) for x, y, z in triples])
    assert (bulk == single).all()
    h, p = ins.decode_to_fpga(bulk)
    assert (p[0::2] & np.uint64(0xFFFFFFFF) == a.astype(np.uint64)).all()
    assert ((p[0::2] >> np.uint64(32)) & np.uint64(0xF) == be.astype(np.uint64)).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(isa.FROM_FPGA).flatmap(
    lambda i: st.tuples(st.just(i.name), st.integers(0, 2**i.payload_bits - 1))),
    min_size=0, max_size=30))
def test_from_fpga_stream_round_trip(messages):
    words = ins.encode_from_fpga(messages)
    s = ins.decode_from_fpga(words)
    assert [isa.FROM_FPGA[h].name for h in s.headers] == [m for m, _ in messages]
    full = [s.wide.get(k, int(p)) for k, p in enumerate(s.payloads)]
    assert full == [p for _, p in messages]


def test_from_fpga_comma_padding_after_80_bit_message():
    words = ins.encode_from_fpga([("spike_pack_3", 1), ("loopback", 0)])
    # 80 + 64 bits packed MSB-first: two full words, then 16 bits and the comma at bit 47
    assert len(words) == 3
    assert int(words[2]) & ((1 << 48) - 1) == 1 << 47
    s = ins.decode_from_fpga(words)
    assert list(s.headers) == [isa.FROM["spike_pack_3"], isa.FROM["loopback"]]


def test_bad_inputs():
    with pytest.raises(ins.InstructionError, match="unknown to-FPGA instruction"):
        ins.encode("nope")
    with pytest.raises(ins.InstructionError, match="out of range"):
        ins.omnibus_write([2**32], [0])
    with pytest.raises(ins.InstructionError, match="out of range"):
        ins.wait_until(-1)
    with pytest.raises(ins.InstructionError, match="num_bits"):
        ins.jtag_data(0, 40, True)
    with pytest.raises(ins.InstructionError, match="unknown instruction header 16 at index 1"):
        ins.decode_to_fpga(np.array([0, 16 << 56], dtype=np.uint64))
    with pytest.raises(ins.InstructionError, match="Unknown UT message header"):
        ins.decode_from_fpga(np.array([0x20 << 56], dtype=np.uint64))
