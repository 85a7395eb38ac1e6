"""Cocolists (ordered coordinate/container lists) and the connection's configuration shadow."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver.base_config import hagen_base_configuration
from driver.chip_image import ChipImage
from driver.cocolist import Cocolist
from driver.containers import (
    CADCSampleQuad,
    CapMemCell,
    NeuronConfig,
    OmnibusWord,
    ResetChip,
    SynapseDriverConfig,
    Timer,
)
from driver.coordinates import (
    CADCSampleQuadOnDLS,
    CapMemCellOnDLS,
    NeuronConfigOnDLS,
    OmnibusAddress,
    ResetChipOnDLS,
    SynapseDriverOnDLS,
    TimerOnDLS,
)

cells = st.builds(lambda b, c, r, v: (CapMemCellOnDLS(block=b, column=c, row=r),
                                      CapMemCell(value=v)),
                  st.integers(0, 3), st.integers(0, 129), st.integers(0, 23),
                  st.integers(0, 1023))
drivers = st.builds(lambda h, d, o, m: (SynapseDriverOnDLS(hemisphere=h, driver=d),
                                        SynapseDriverConfig(hagen_dac_offset=o, offset=m)),
                    st.integers(0, 1), st.integers(0, 127), st.integers(0, 63),
                    st.integers(0, 15))
neurons = st.builds(lambda h, c, s: (NeuronConfigOnDLS(hemisphere=h, column=c),
                                     NeuronConfig(membrane_capacitor_size=s)),
                    st.integers(0, 1), st.integers(0, 255), st.integers(0, 63))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(cells, drivers, neurons), max_size=40))
def test_vectorised_program_equals_container_writes(entries):
    cc = Cocolist(entries)
    expected = [c.write_instructions(co) for co, c in entries]
    words = cc.to_program().words
    assert np.array_equal(words, np.concatenate(expected) if expected else
                          np.zeros(0, dtype=np.uint64))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(cells, drivers), max_size=40))
def test_squash_keeps_the_last_write_per_coordinate(entries):
    cc = Cocolist(entries)
    sq = cc.squash()
    last = dict(entries)
    assert dict(sq.entries) == last
    assert len(sq) == len(last)
    assert sq.squash() == sq
    # applying the squashed list leaves the chip in the same state as the full list
    a, b = EmulatorConnection("ideal"), EmulatorConnection("ideal")
    a.run(cc.to_program())
    b.run(sq.to_program())
    assert np.array_equal(a.shadow.words, b.shadow.words)


def test_waits_are_kept_in_order_and_can_be_removed():
    cc = Cocolist()
    cc.append(CapMemCellOnDLS(block=0, column=0, row=0), CapMemCell(value=1))
    cc.append(TimerOnDLS(), Timer.Value(100))
    cc.append(CapMemCellOnDLS(block=0, column=0, row=1), CapMemCell(value=2))
    words = cc.to_program().words
    assert len(words) == 5 and int(words[2]) >> 56 == 5  # the WaitUntil between the writes
    assert len(cc.remove_block_until()) == 2


def test_bad_entries_are_refused():
    cc = Cocolist()
    with pytest.raises(TypeError, match="CapMemCell lives at"):
        cc.append(TimerOnDLS(), CapMemCell(value=1))
    with pytest.raises(TypeError, match="read-only"):
        cc.append(CADCSampleQuadOnDLS(hemisphere=0, readout_type=1, channel_type=0, row=0,
                                      quad=0), CADCSampleQuad())
    with pytest.raises(TypeError, match="containers and waits"):
        cc.append(TimerOnDLS(), 5)


def test_base_configuration_is_a_cocolist_of_the_whole_chip():
    cc = hagen_base_configuration()
    coords = {type(c).__name__ for c, _ in cc}
    assert {"CapMemBlockOnDLS", "NeuronConfigOnDLS", "SynapseDriverOnDLS", "CADCConfigOnDLS",
            "CrossbarNodeOnDLS", "PPUControlRegisterOnDLS"} <= coords
    assert cc == hagen_base_configuration()


def test_shadow_follows_writes_byte_enables_and_resets():
    conn = EmulatorConnection(0)
    addr = 0x0014_0060
    b = PlaybackProgramBuilder()
    b.write(OmnibusAddress(addr), OmnibusWord(value=0x11223344))
    b.write(OmnibusAddress(addr), OmnibusWord(value=0xAABBCCDD, byte_enables=0b0101))
    conn.run(b.done())
    assert int(conn.shadow.get([addr])[0]) == 0x11BB33DD
    b.write(ResetChipOnDLS(), ResetChip(value=True))
    b.write(ResetChipOnDLS(), ResetChip(value=False))
    conn.run(b.done())
    assert int(conn.shadow.get([addr])[0]) == 0
    coord = SynapseDriverOnDLS(hemisphere=1, driver=9)
    assert conn.shadow.read(coord, SynapseDriverConfig) == SynapseDriverConfig()
    with pytest.raises(KeyError, match="not a writable"):
        conn.shadow.get([0x0000_1234])


def test_shadow_matches_what_the_chip_reads_back():
    conn = EmulatorConnection(1)
    conn.run(hagen_base_configuration().to_program())
    b = PlaybackProgramBuilder()
    coords = [SynapseDriverOnDLS(hemisphere=h, driver=d) for h in (0, 1) for d in (0, 77)]
    tickets = [b.read(c) for c in coords]
    conn.run(b.done())
    for c, t in zip(coords, tickets):
        assert conn.shadow.read(c, SynapseDriverConfig) == t.get()
    assert isinstance(ChipImage().words, np.ndarray)
