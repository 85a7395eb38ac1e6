"""PlaybackProgramBuilder, tickets and EmulatorConnection through the public driver API."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import (
    EmulatorConnection,
    PlaybackError,
    PlaybackProgramBuilder,
    TicketError,
    instructions,
)
from driver.containers import (
    Barrier,
    CapMemCell,
    NullPayloadReadable,
    OmnibusWord,
    SynapseDriverConfig,
    SynapseWeightRow,
    Timer,
)
from driver.coordinates import (
    BarrierOnFPGA,
    CapMemCellOnDLS,
    NullPayloadReadableOnFPGA,
    OmnibusAddress,
    SynapseDriverOnDLS,
    SynapseRowOnDLS,
    TimerOnDLS,
)
from hwlayer.regmap import instructions as isa


@pytest.fixture
def conn():
    with EmulatorConnection(0, seed=0) as c:
        yield c


def test_capmem_write_golden_words_and_read_back(conn):
    b = PlaybackProgramBuilder()
    coord = CapMemCellOnDLS(block=0, column=3, row=0)
    b.write(coord, CapMemCell(value=500))
    t = b.read(coord)
    p = b.done()
    assert [int(w) for w in p.words[:2]] == [0x0B00000F_00140060, 0x0C000000_000001F4]
    assert int(p.words[2]) == 0x0B00001F_00140060
    with pytest.raises(TicketError, match="has not run"):
        t.get()
    assert not t.valid()
    conn.run(p)
    assert t.valid() and t.get() == CapMemCell(value=500)


def test_run_appends_halt_and_keeps_program_words(conn):
    b = PlaybackProgramBuilder()
    b.write(TimerOnDLS(), Timer())
    p = b.done()
    assert list(p.words) == [0x0400000000000000]
    info = conn.run(p)
    assert info.cycles >= 2  # setup + halt
    assert len(p.result.stream) == 1  # only the halt echo


def test_timer_block_until_and_read(conn):
    b = PlaybackProgramBuilder()
    b.write(TimerOnDLS(), Timer())
    b.block_until(TimerOnDLS(), Timer.Value(12500))
    b.block_until(BarrierOnFPGA(), Barrier.omnibus)
    t = b.read(TimerOnDLS())
    info = conn.run(b.done())
    assert 12500 <= t.get().value <= 12510
    assert info.chip_time_s == pytest.approx(100e-6, rel=0.01)
    with pytest.raises(ValueError):
        Timer(value=5).write_instructions(TimerOnDLS())


def test_tickets_queue_by_response_type(conn):
    b = PlaybackProgramBuilder()
    tick = b.read(NullPayloadReadableOnFPGA())
    cell = b.read(CapMemCellOnDLS(block=1, column=0, row=2))
    raw = b.read(OmnibusAddress(0x0014_8002))  # same cell through the raw path
    b.write(OmnibusAddress(0x0014_8002), OmnibusWord(value=77))
    cell2 = b.read(CapMemCellOnDLS(block=1, column=0, row=2))
    tick2 = b.read(NullPayloadReadableOnFPGA())
    assert b.size_from_fpga() == 5 and not b.is_write_only()
    conn.run(b.done())
    assert isinstance(tick.get(), NullPayloadReadable) and isinstance(tick2.get(),
                                                                      NullPayloadReadable)
    assert cell.get().value == 0 and raw.get().value == 0 and cell2.get().value == 77


def test_merge_back_repoints_tickets(conn):
    a, b = PlaybackProgramBuilder(), PlaybackProgramBuilder()
    a.write(CapMemCellOnDLS(block=2, column=5, row=7), CapMemCell(value=11))
    ta = a.read(CapMemCellOnDLS(block=2, column=5, row=7))
    b.write(CapMemCellOnDLS(block=3, column=5, row=7), CapMemCell(value=22))
    tb = b.read(CapMemCellOnDLS(block=3, column=5, row=7))
    a.merge_back(b)
    assert b.empty() and tb.position == 1
    conn.run(a.done())
    assert ta.get().value == 11 and tb.get().value == 22


def test_state_persists_and_connections_are_independent():
    coord = CapMemCellOnDLS(block=0, column=0, row=0)
    with EmulatorConnection(0) as c1, EmulatorConnection(0) as c2:
        b = PlaybackProgramBuilder()
        b.write(coord, CapMemCell(value=123))
        c1.run(b.done())
        t1, t2 = PlaybackProgramBuilder(), PlaybackProgramBuilder()
        r1, r2 = t1.read(coord), t2.read(coord)
        c1.run(t1.done())
        c2.run(t2.done())
        assert r1.get().value == 123 and r2.get().value == 0


def test_whole_row_of_weights_and_driver_config_round_trip(conn):
    weights = np.arange(256) % 64
    cfg = SynapseDriverConfig(offset=7, enable_hagen_dac=True, enable_receiver=True,
                              hagen_dac_offset=33, enable_address_out=False)
    b = PlaybackProgramBuilder()
    b.write(SynapseRowOnDLS(hemisphere=1, row=200), SynapseWeightRow(weights=weights))
    b.write(SynapseDriverOnDLS(hemisphere=0, driver=100), cfg)
    tw = b.read(SynapseRowOnDLS(hemisphere=1, row=200))
    tc = b.read(SynapseDriverOnDLS(hemisphere=0, driver=100))
    conn.run(b.done())
    assert np.array_equal(tw.get().weights, weights)
    assert tc.get() == cfg


def test_unmapped_read_raises_with_index_and_address(conn):
    b = PlaybackProgramBuilder()
    b.write(TimerOnDLS(), Timer())
    b.read(OmnibusAddress(0x0000_1234))
    with pytest.raises(PlaybackError, match=r"instruction 1 \(omnibus read of address 0x00001234"):
        conn.run(b.done())


def test_writing_a_read_only_register_raises(conn):
    b = PlaybackProgramBuilder()
    b.write(OmnibusAddress(0x8800_000C), OmnibusWord(value=1))  # the timer readout
    with pytest.raises(PlaybackError, match="omnibus write to address 0x8800000c"):
        conn.run(b.done())


def test_run_rejects_non_programs_and_closed_connections():
    c = EmulatorConnection(0)
    with pytest.raises(TypeError, match="Program"):
        c.run(np.zeros(3, dtype=np.uint64))
    c.close()
    with pytest.raises(PlaybackError, match="closed"):
        c.run(PlaybackProgramBuilder().done())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 2**16 - 1)), min_size=1,
                max_size=60))
def test_spikes_are_packed_by_time(events):
    times = np.array([t for t, _ in events])
    labels = np.array([lab for _, lab in events])
    b = PlaybackProgramBuilder()
    b.write(TimerOnDLS(), Timer())
    b.spikes(times, labels)
    words = b.done().words[1:]
    headers, payloads = instructions.decode_to_fpga(words)
    # decode the schedule: WaitUntil(t) then up to 3 labels per pack
    decoded, now = [], None
    for h, p in zip(headers, payloads):
        if h == isa.TO["timing_wait_until"]:
            assert now is None or int(p) > now  # one wait per distinct time, ascending
            now = int(p)
        else:
            n = int(h) - isa.TO["spike_pack_1"] + 1
            decoded += [(now, (int(p) >> (16 * (n - 1 - k))) & 0xFFFF) for k in range(n)]
    order = np.argsort(times, kind="stable")
    assert decoded == [(int(times[i]), int(labels[i])) for i in order]
    # packs are full except the last of each time
    n_waits = int((headers == isa.TO["timing_wait_until"]).sum())
    assert n_waits == np.unique(times).size
    assert (headers != isa.TO["timing_wait_until"]).sum() == sum(
        -(-int((times == t).sum()) // 3) for t in np.unique(times))


def test_spikes_bad_input():
    b = PlaybackProgramBuilder()
    with pytest.raises(ValueError, match="equal length"):
        b.spikes(np.array([1, 2]), np.array([1]))
    with pytest.raises(ValueError, match="spike label"):
        b.spikes(np.array([1]), np.array([2**16]))
    with pytest.raises(ValueError, match="spike time"):
        b.spikes(np.array([-1]), np.array([1]))
    with pytest.raises(TypeError):
        b.spikes(np.array([1.5]), np.array([1]))


def test_tickets_of_a_failed_run_are_invalid(conn):
    b = PlaybackProgramBuilder()
    bad = b.read(OmnibusAddress(0x0000_1234))
    good = b.read(CapMemCellOnDLS(block=0, column=0, row=0))
    with pytest.raises(PlaybackError):
        conn.run(b.done())
    for t in (bad, good):
        assert not t.valid()
        with pytest.raises(TicketError, match="run failed"):
            t.get()


def test_merge_back_into_itself_is_refused():
    b = PlaybackProgramBuilder()
    b.write(TimerOnDLS(), Timer())
    with pytest.raises(ValueError, match="itself"):
        b.merge_back(b)
    assert b.size_to_fpga() == 1
