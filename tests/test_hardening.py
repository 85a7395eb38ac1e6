"""Clumsy and hostile input to the files, the command line and the driver: clear errors of the
documented type, the documented exit codes, no hang, no lost result."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from driver import EmulatorConnection, jsonlimits
from driver import cocolist_file as cf
from driver.builder import PlaybackProgramBuilder
from driver.calibration import cache
from driver.cocolist import Cocolist
from driver.cocolist_file import (
    CocolistFileError,
    decode_cocolist,
    load_cocolist,
    save_cocolist,
    save_or_keep,
)
from driver.containers import CapMemCell, Timer
from driver.coordinates import CapMemCellOnDLS, TimerOnDLS
from driver.mac import MAC
from frontend import cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}


def hxemu(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frontend.cli", *args], capture_output=True,
                          text=True, env=kw.pop("env", ENV), timeout=kw.pop("timeout", 120),
                          **kw)


def with_metadata_json(data: bytes, meta: bytes) -> bytes:
    """A valid file's bytes with other metadata JSON (sizes and checksum fixed up)."""
    head = struct.calcsize("<8sHHQ")
    (n,) = struct.unpack_from("<I", data, head)
    body = data[:head] + struct.pack("<I", len(meta)) + meta + data[head + 4 + n:-32]
    body = body[:head - 8] + struct.pack("<Q", len(body) + 32) + body[head:]
    return body + hashlib.sha256(body).digest()


def small() -> Cocolist:
    cc = Cocolist()
    cc.append(CapMemCellOnDLS(block=1, column=129, row=23), CapMemCell(value=1022))
    return cc


# -- files ------------------------------------------------------------------------------------

def test_show_refuses_devices_and_fifos_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        t0 = time.monotonic()
        r = hxemu("cocolist", "show", path, timeout=30)
        assert r.returncode == 2 and "not a regular file" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and time.monotonic() - t0 < 20
    with pytest.raises(CocolistFileError, match="not a regular file"):
        load_cocolist("/dev/zero")


def test_a_foreign_file_is_refused_by_its_magic_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    path.write_bytes(b"NOTCOCO!" + bytes(1 << 20))
    reads = []
    real = os.fdopen

    def spy(*a, **k):
        f = real(*a, **k)
        orig = f.read
        f.read = lambda n=-1: reads.append(n) or orig(n)
        return f

    monkeypatch.setattr(cf.os, "fdopen", spy)
    with pytest.raises(CocolistFileError, match="bad magic"):
        load_cocolist(path)
    assert reads == [len(cf.MAGIC)]


def test_deeply_nested_metadata_is_refused_both_ways(tmp_path):
    good = tmp_path / "good.pbin"
    save_cocolist(good, small(), {"comment": "ok", "deep": [[[1]]]})
    assert load_cocolist(good)[1]["deep"] == [[[1]]]
    deep = tmp_path / "deep.pbin"
    deep.write_bytes(with_metadata_json(good.read_bytes(), b'{"x": ' + b"[" * 200_000
                                        + b"]" * 200_000 + b"}"))
    with pytest.raises(CocolistFileError, match="deep.pbin: malformed metadata: JSON nested"):
        load_cocolist(deep)
    with pytest.raises(CocolistFileError, match="nested"):
        decode_cocolist(deep.read_bytes())
    for args in (("show", str(deep)), ("diff", str(good), str(deep))):
        r = hxemu("cocolist", *args)
        assert r.returncode == 2 and "nested" in r.stderr and "Traceback" not in r.stderr
    nested: list = []
    inner = nested
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]
    with pytest.raises(ValueError, match="metadata is nested more than 32 levels"):
        save_cocolist(tmp_path / "never.pbin", small(), {"comment": "x", "deep": nested})
    assert not (tmp_path / "never.pbin").exists()


def test_json_depth_ignores_brackets_in_strings():
    assert jsonlimits.text_depth(b'{"a": "[[[{{{", "b": [1, {"c": "\\"]]"}]}') == 3
    assert jsonlimits.loads('{"a": "[[[[[[[[[["}', max_depth=1) == {"a": "[[[[[[[[[["}
    with pytest.raises(jsonlimits.JSONDepthError):
        jsonlimits.loads("[[[]]]", max_depth=2)


def test_a_corrupted_cached_calibration_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    made = []

    class Result:
        summary = {"gain_cv": 0.01}
        wall_time_s = 0.0

        def to_cocolist(self):
            return small()

    monkeypatch.setattr(cache, "calibrate", lambda conn, progress=None: made.append(1)
                        or Result())
    path, cc, meta = cache.default_calibration(3)
    assert made == [1] and cc == small()
    cache.default_calibration(3)
    assert made == [1]  # cached
    path.write_bytes(path.read_bytes()[:-5] + b"xxxxx")  # corrupted
    with pytest.warns(RuntimeWarning, match="unusable, making it again.*checksum"):
        again, cc, _ = cache.default_calibration(3)
    assert made == [1, 1] and again == path and load_cocolist(path)[0] == small()


def test_save_or_keep_keeps_the_data_when_the_target_fails(tmp_path):
    ok = save_or_keep(tmp_path / "a.bin", b"data", "result")
    assert ok.read_bytes() == b"data"
    with pytest.raises(OSError, match=r"cannot write .*nodir/b\.bin.*the result was saved to "
                       r"(\S+) instead") as e:
        save_or_keep(tmp_path / "nodir" / "b.bin", b"precious", "result")
    kept = Path(str(e.value).rsplit("saved to ", 1)[1].split(" instead")[0])
    assert kept.read_bytes() == b"precious"
    kept.unlink()


# -- the command line ---------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (("serve", "--port", "-1"), "argument --port: must be in 0..65535"),
    (("serve", "--port", "70000"), "argument --port: must be in 0..65535"),
    (("serve", "--port", "0", "--max-connections", "0"), "argument --max-connections"),
    (("calibrate", "--seed", "-5"), "argument --seed: must be >= 0, got -5"),
])
def test_bad_arguments_name_the_option(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(list(args))
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_diff_into_head_keeps_the_exit_status(tmp_path):
    a, b = tmp_path / "a.pbin", tmp_path / "b.pbin"
    save_cocolist(a, small())
    other = Cocolist()
    for k in range(2000):  # enough output to fill the pipe
        other.append(CapMemCellOnDLS(block=k % 4, column=k // 4 % 128, row=k // 512),
                     CapMemCell(value=k % 1000))
    save_cocolist(b, other)
    r = subprocess.run(f"{sys.executable} -m frontend.cli cocolist diff {a} {b} | head -1; "
                       "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 1 and r.stdout.startswith("---"), r
    assert "Traceback" not in r.stderr and "Broken" not in r.stderr, r.stderr


def test_output_paths_are_checked_before_the_work(tmp_path):
    try:
        cf.check_writable("/sys/cal.pbin")
        pytest.skip("no read-only folder here")
    except OSError:
        pass
    t0 = time.monotonic()
    r = hxemu("calibrate", "--quiet", "-o", "/sys/cal.pbin")
    assert r.returncode == 2 and "cannot write /sys/cal.pbin" in r.stderr, r.stderr
    r = hxemu("calibrate", "--quiet", "-o", str(tmp_path / "missing" / "cal.pbin"))
    assert r.returncode == 2 and "no folder" in r.stderr
    (tmp_path / "out" / "summary.json").mkdir(parents=True)
    r = hxemu("yinyang", "-o", str(tmp_path / "out"), "--chip-id", "ideal")
    assert r.returncode == 2 and "summary.json: it is a directory" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 60  # well before a calibration or a training ended


def _interrupt(args: list[str], marker: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**ENV, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    p = subprocess.Popen([sys.executable, "-m", "frontend.cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    seen = threading.Event()
    err: list[str] = []

    def watch() -> None:
        for chunk in iter(lambda: p.stderr.read(1), ""):
            err.append(chunk)
            if marker in "".join(err[-200:]):
                seen.set()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    assert seen.wait(120), "".join(err)
    p.send_signal(signal.SIGINT)
    out = p.stdout.read()
    code = p.wait(60)
    t.join(10)
    return subprocess.CompletedProcess(args, code, out, "".join(err))


@pytest.mark.parametrize("command", ["calibrate", "yinyang"])
def test_ctrl_c_is_one_line_and_status_130(command, tmp_path):
    out = tmp_path / "out"
    args = (["calibrate", "-o", str(out / "cal.pbin"), "--seed", "1"] if command == "calibrate"
            else ["yinyang", "-o", str(out), "--chip-id", "0", "--no-figures"])
    out.mkdir()
    r = _interrupt(args, "calibrating", tmp_path)
    assert r.returncode == 130, r.stderr
    assert r.stderr.rstrip().endswith("hxemu: interrupted") and "Traceback" not in r.stderr
    assert not [p.name for p in out.rglob("*") if p.suffix in (".pbin", ".tmp", ".json")]


# -- the driver ---------------------------------------------------------------------------------

def test_builder_refuses_wrong_argument_types():
    b = PlaybackProgramBuilder()
    with pytest.raises(TypeError, match="write\\(\\) takes a container instance.*NoneType"):
        b.write(None, None)
    with pytest.raises(TypeError, match="write\\(\\) takes a container instance.*Timer.Value"):
        b.write(TimerOnDLS(), Timer.Value(5))
    with pytest.raises(TypeError, match="write\\(\\) takes a container instance.*class Timer"):
        b.write(TimerOnDLS(), Timer)
    with pytest.raises(TypeError, match="read\\(\\) takes a container type.*a Timer"):
        b.read(TimerOnDLS(), Timer())
    with pytest.raises(TypeError, match="merge_back\\(\\) takes a PlaybackProgramBuilder.*"
                                        "Program"):
        b.merge_back(b.done())
    b.write(TimerOnDLS(), Timer())  # still fine
    assert b.done().words.size


def test_mac_and_connection_refuse_wrong_arguments():
    with pytest.raises(TypeError, match="connection must be a connection.*NoneType"):
        MAC(np.ones((4, 4), dtype=np.int64)).run(np.ones((1, 4), dtype=np.int64), None)
    for seed in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match=f"seed must be a non-negative int or None, got "
                                             f"{seed!r}"):
            EmulatorConnection(0, seed=seed)
    EmulatorConnection(0, seed=np.int64(3)).close()


def test_metadata_keeps_working(tmp_path):
    path = tmp_path / "m.pbin"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_cocolist(path, small(), {"comment": "c", "nested": {"a": [1, {"b": 2}]}})
    assert json.dumps(load_cocolist(path)[1]["nested"]) == '{"a": [1, {"b": 2}]}'
