"""The one chip-id rule: every parser (argument, environment, Python call) agrees."""

import argparse

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.arguments import chip_id_argument
from hwlayer.regmap.chip_id import check_chip_id, parse_chip_id


@given(st.integers(min_value=0, max_value=2**40))
def test_text_forms_agree_with_the_value(value):
    assert parse_chip_id(str(value)) == value
    assert parse_chip_id(hex(value)) == value
    assert chip_id_argument(f" {value} ") == value
    assert check_chip_id(np.int64(value)) == value


def test_ideal_and_leading_zeros():
    assert parse_chip_id("ideal") == check_chip_id("ideal") == "ideal"
    assert parse_chip_id("007") == 7


@pytest.mark.parametrize("text", ["-1", "x", "", "1.5", "ideal2", "-0x3"])
def test_bad_text_names_the_source(text):
    with pytest.raises(ValueError, match=rf"HXEMU_CHIP_ID must be .* got {text!r}"):
        parse_chip_id(text, "HXEMU_CHIP_ID")
    with pytest.raises(argparse.ArgumentTypeError, match="chip id must be"):
        chip_id_argument(text)


@pytest.mark.parametrize("value,error", [(-1, ValueError), (True, TypeError), (1.0, TypeError),
                                         ("3", TypeError), (None, TypeError)])
def test_bad_values(value, error):
    with pytest.raises(error, match="chip_id must be a non-negative int or 'ideal'"):
        check_chip_id(value)
