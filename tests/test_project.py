"""Project-wide checks: the layer contracts (import-linter) and lint (ruff)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)


def test_layer_contracts_hold():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[test]')")
    r = _run([exe, "--no-cache"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_is_clean():
    r = _run([sys.executable, "-m", "ruff", "check", "."])
    assert r.returncode == 0, r.stdout + r.stderr
