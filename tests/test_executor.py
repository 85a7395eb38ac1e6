"""The FPGA playback executor at word level: semantics of all 16 instructions and error paths."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import instructions as ins
from hwlayer.emulator import Chip, ProgramError
from hwlayer.regmap import instructions as isa
from hwlayer.regmap import registers as R

HALT = np.array([isa.HALT_WORD], dtype=np.uint64)
CAPMEM = 0x140060  # block 0, column 3, row 0
TIMER = R.TIMER_READOUT


def run(chip, *parts):
    words = np.concatenate([*parts, HALT]).astype(np.uint64)
    return chip.execute(words)


def decoded(result):
    s = ins.decode_from_fpga(result.responses)
    names = [isa.FROM_FPGA[h].name for h in s.headers]
    return names, [int(p) for p in s.payloads]


@pytest.fixture(scope="module")
def chip():
    return Chip(0, seed=1)


def test_halt_only_yields_one_halt_echo():
    r = run(Chip(0))
    assert decoded(r) == (["loopback"], [0])


def test_tick_then_halt_echo_in_order():
    r = run(Chip(0), ins.encode("system_loopback", 1))
    assert decoded(r) == (["loopback", "loopback"], [1, 0])


def test_read_after_write(chip):
    r = run(chip, ins.omnibus_write([CAPMEM], [500]), ins.omnibus_read([CAPMEM]))
    assert decoded(r) == (["omnibus_data", "loopback"], [500, 0])


def test_state_persists_across_programs():
    c = Chip(3)
    run(c, ins.omnibus_write([CAPMEM], [321]))
    assert decoded(run(c, ins.omnibus_read([CAPMEM])))[1][0] == 321


def test_reset_values_from_the_register_map(chip):
    # SynapseDriverConfig driver 0 top: 0x3e00, 0x3f00, 0x40 (docs/register-map.md)
    r = run(Chip(0), ins.omnibus_read([0x110400, 0x110401, 0x110402]))
    assert decoded(r)[1][:3] == [0x3E00, 0x3F00, 0x40]


@settings(max_examples=60, deadline=None)
@given(old=st.integers(0, 2**32 - 1), new=st.integers(0, 2**32 - 1), be=st.integers(0, 15))
def test_byte_enables_merge_bytes(old, new, be):
    c = Chip(0)
    addr = R.PPU_MEMORY_BASE + 17
    r = run(c, ins.omnibus_write([addr], [old]), ins.omnibus_write([addr], [new], be),
            ins.omnibus_read([addr]))
    mask = sum(0xFF << (8 * b) for b in range(4) if be >> b & 1)
    assert decoded(r)[1][0] == (old & ~mask) | (new & mask)


def test_views_alias_the_raw_synapse_word():
    c = Chip(0)
    raw0 = R.SYNRAM_RAW_BASE + 5 * 128 + 2
    weight = R.SYNRAM_WEIGHT_BASE + 5 * 64 + 2
    label = R.SYNRAM_LABEL_BASE + 5 * 64 + 2
    calib = R.SYNRAM_EVEN_2MSB_BASE + 5 * 64 + 2
    r = run(c, ins.omnibus_write([raw0, raw0 + 64], [0xC1C2C3FF, 0x0000003F]),
            ins.omnibus_read([weight, label, calib]),
            ins.omnibus_write([weight], [0x01020304]), ins.omnibus_read([raw0]))
    vals = decoded(r)[1]
    assert vals[0] == 0xC1C2C3FF & 0x3F3F3F3F
    assert vals[1] == 0x3F
    assert vals[2] == (0xC1C2C3FF >> 6) & 0x03030303
    assert vals[3] == 0xC0C0C0C0 | 0x01020304  # time_calib bits kept


def test_timer_setup_wait_and_readout():
    c = Chip(0)
    r = run(c, ins.encode("timing_setup"), ins.wait_until(1000), ins.omnibus_read([TIMER]),
            ins.omnibus_read([TIMER]), ins.wait_until(10), ins.omnibus_read([TIMER]))
    t = decoded(r)[1][:3]
    assert t[0] == 1000 and t[1] == 1001  # one cycle per instruction
    assert t[2] == 1002  # waiting for a time that has passed does not block
    assert r.cycles >= 1000


def test_timer_orders_spike_events():
    c = Chip(0)
    words = np.concatenate([ins.encode("timing_setup"), ins.wait_until(100),
                            ins.spike_packs(np.array([[7, 8, 0]]), np.array([2])),
                            ins.wait_until(250),
                            ins.spike_packs(np.array([[1, 2, 3]]), np.array([3]))])
    r = run(c, words)
    base = r.start_cycle
    assert list(r.event_labels) == [7, 8, 1, 2, 3]
    assert list(r.event_times - base) == [100, 100, 250, 250, 250]


def test_barrier_and_systime_init():
    c = Chip(0)
    r = run(c, ins.encode("timing_barrier", isa.BARRIER["omnibus"]),
            ins.encode("timing_systime_init", 1))
    names, vals = decoded(r)
    assert names == ["systime", "loopback"]
    assert vals[0] == r.start_cycle + 1


def test_unmapped_read_answers_timeout_notification():
    r = run(Chip(0), ins.omnibus_read([0x12345]), ins.omnibus_read([CAPMEM]))
    names, vals = decoded(r)
    assert names == ["timeout_notification", "omnibus_data", "loopback"]
    assert vals[0] & 0xFFFFFFFF == 0


def test_access_direction_is_enforced():
    neuron_reset = R.CORRELATION_RESET_BASE + 256 * 64
    cadc = R.CADC_SAMPLE_BASE[0] + R.CADC_BUFFERED_MASK
    r = run(Chip(0), ins.omnibus_read([neuron_reset]), ins.omnibus_write([cadc], [1]),
            ins.omnibus_write([neuron_reset], [0]))
    names, vals = decoded(r)
    assert names == ["timeout_notification", "timeout_notification", "loopback"]
    assert [v & 0xFFFFFFFF for v in vals[:2]] == [0, 1]


def test_polling_block_met_and_timeout():
    c = Chip(0)
    addr = R.PPU_MEMORY_BASE
    cfg = ins.omnibus_write([R.POLLING_ADDRESS, R.POLLING_TARGET, R.POLLING_MASK],
                            [addr, 5, 0xFF])
    r = run(c, cfg, ins.omnibus_write([addr], [0x105]),
            ins.encode("timing_polling_omnibus_block", 1),
            ins.encode("timing_polling_omnibus_block", 0))
    names, vals = decoded(r)
    assert names == ["timeout_notification", "loopback"]
    assert vals[0] & 0xFFFFFFFF == 9  # the "!=" poll can never end
    assert r.cycles >= 125_000


def test_chip_reset_restores_reset_values_and_blocks_access():
    c = Chip(0)
    r = run(c, ins.omnibus_write([CAPMEM], [77]), ins.encode("system_reset", 1),
            ins.omnibus_read([CAPMEM]), ins.encode("system_reset", 0),
            ins.omnibus_read([CAPMEM, TIMER]))
    names, vals = decoded(r)
    assert names[:2] == ["timeout_notification", "omnibus_data"]
    assert vals[1] == 0


def test_jtag_idcode_bypass_and_omnibus():
    c = Chip(0)
    j = isa.JTAG_INSTRUCTIONS
    r = run(c, ins.encode("jtag_init"), ins.jtag_data(0, 32, True),
            ins.encode("jtag_ins", j["BYPASS"]), ins.jtag_data(0b101, 8, True),
            ins.encode("jtag_ins", j["OMNIBUS_ADDRESS"]), ins.jtag_data(CAPMEM, 33, False),
            ins.encode("jtag_ins", j["OMNIBUS_DATA"]), ins.jtag_data(612, 32, False),
            ins.encode("jtag_ins", j["OMNIBUS_REQUEST"]), ins.jtag_data(0, 3, False),
            ins.omnibus_read([CAPMEM]),
            ins.encode("jtag_ins", j["OMNIBUS_ADDRESS"]),
            ins.jtag_data(CAPMEM | 1 << 32, 33, False),
            ins.encode("jtag_ins", j["OMNIBUS_REQUEST"]), ins.jtag_data(0, 3, False),
            ins.encode("jtag_ins", j["OMNIBUS_DATA"]), ins.jtag_data(0, 32, True))
    names, vals = decoded(r)
    assert names == ["jtag_data", "jtag_data", "omnibus_data", "jtag_data", "loopback"]
    assert vals[0] == isa.JTAG_IDCODE
    assert vals[1] == 0b1010
    assert vals[2] == 612 and vals[3] == 612


def test_program_without_halt_is_an_error():
    with pytest.raises(ProgramError, match="without halt"):
        Chip(0).execute(ins.omnibus_read([CAPMEM]))


def test_unknown_header_is_an_error():
    bad = np.array([0x1F << 56, isa.HALT_WORD], dtype=np.uint64)
    with pytest.raises(ProgramError, match="unknown instruction header 31 at index 0"):
        Chip(0).execute(bad)


def test_malformed_words_are_errors():
    c = Chip(0)
    with pytest.raises(ProgramError, match="not followed by data"):
        c.execute(np.concatenate([ins.omnibus_write([CAPMEM], [1])[:1], HALT]))
    with pytest.raises(ProgramError, match="without a preceding"):
        c.execute(np.concatenate([ins.encode("omnibus_data", 1), HALT]))
    with pytest.raises(ProgramError, match="beyond its payload"):
        c.execute(np.array([isa.TO["timing_setup"] << 56 | 1, isa.HALT_WORD], dtype=np.uint64))
    with pytest.raises(ProgramError, match="after the halt"):
        c.execute(np.concatenate([HALT, ins.encode("timing_setup"), HALT]))
    with pytest.raises(ProgramError, match="uint64"):
        c.execute(np.array([1, 2], dtype=np.int32))


def test_chip_id_validation():
    assert Chip("ideal").is_ideal
    with pytest.raises(ValueError):
        Chip(-1)
    with pytest.raises(TypeError):
        Chip("best")


def test_malformed_program_changes_nothing():
    c = Chip(0)
    words = np.concatenate([ins.omnibus_write([CAPMEM], [9]), ins.encode("omnibus_data", 1),
                            HALT])
    with pytest.raises(ProgramError, match="index 2 without a preceding"):
        c.execute(words)
    assert c.read_register(CAPMEM) == 0 and c.fpga[0] == 0


def test_jtag_omnibus_reaches_only_the_chip():
    j = isa.JTAG_INSTRUCTIONS
    r = run(Chip(0), ins.encode("jtag_ins", j["OMNIBUS_ADDRESS"]),
            ins.jtag_data(TIMER | 1 << 32, 33, False),
            ins.encode("jtag_ins", j["OMNIBUS_REQUEST"]), ins.jtag_data(0, 3, False))
    assert decoded(r)[0] == ["timeout_notification", "loopback"]
