"""driver.mac.MAC.run(..., madc_neuron=n): an MADC recording that spans the whole MAC program."""

import numpy as np
import pytest

from driver import EmulatorConnection
from driver.base_config import hagen_base_configuration
from driver.mac import MAC, MADC_SAMPLE_PERIOD


@pytest.fixture(scope="module")
def ideal():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    return conn


def test_recording_spans_the_program_and_sees_the_integration(ideal):
    w = np.zeros((128, 300), dtype=np.int64)
    w[:, 260] = 7  # neuron 260 - 256 = column 4 of the second tile (hemisphere 1)
    mac = MAC(w, num_sends=2)
    x = np.full((2, 128), 20)
    y = mac.run(x, ideal, madc_neuron=256 + 4)
    assert y[:, 260].tolist() == [71, 71]  # floor(128 * 20 * 7 * 2 / 500)
    t, v = mac.last_madc
    cycles = mac.chip_time_s * 125e6
    assert (np.diff(t) == MADC_SAMPLE_PERIOD).all()
    assert t[0] < 50 and cycles - MADC_SAMPLE_PERIOD <= t[-1] <= cycles
    assert v.max() - v.min() > 5  # the membrane integrates, then is reset
    assert np.array_equal(MAC(w, num_sends=2).run(x, ideal), y)  # recording changes nothing


def test_recording_other_neuron_and_errors(ideal):
    mac = MAC(np.full((4, 2), 10))
    mac.run(np.zeros((1, 4), dtype=np.int64), ideal)
    assert mac.last_madc is None
    mac.run(np.zeros((1, 4), dtype=np.int64), ideal, madc_neuron=0)
    t, v = mac.last_madc
    assert len(t) > 10 and (v == v[0]).all()  # no input: the membrane rests
    for bad in (-1, 512, True, 1.0):
        with pytest.raises(OverflowError, match="madc_neuron"):
            mac.run(np.zeros((1, 4), dtype=np.int64), ideal, madc_neuron=bad)
