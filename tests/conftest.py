"""Shared fixtures."""

import os

import pytest


@pytest.fixture(scope="module")
def private_calibration_cache(tmp_path_factory):
    """A private XDG cache for the module: default calibrations are created there (about 5 s
    per chip) instead of in the user's cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = old
