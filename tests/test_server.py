"""The chip server: many clients at once without crosstalk, per-user configuration (a calibrated
and an uncalibrated user on one chip), round-robin fairness, a clean shutdown, `hxemu serve`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from server_helpers import RawClient, exact, mac_program

from driver import EmulatorConnection, RemoteConnection
from driver import protocol as P
from driver.base_config import hagen_base_configuration
from driver.calibration import (
    CalibrationTarget,
    RangeLimitWarning,
    apply_calibration,
    calibrate,
    summary,
)
from driver.calibration import measure as M
from driver.mac import MAC
from driver.server import LocalServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ideal_server():
    with LocalServer("--chip-id", "ideal", "--max-queue", "64") as srv:
        yield srv


def test_eight_clients_twenty_macs_each_no_crosstalk(ideal_server):
    n_clients, n_programs = 8, 20
    errors: list = []
    counts = [0] * n_clients

    def client(i: int) -> None:
        try:
            rng = np.random.default_rng(100 + i)
            n_in, n_out = int(rng.integers(100, 300)), int(rng.integers(20, 80))
            w = rng.integers(-63, 64, (n_in, n_out))
            with RemoteConnection("127.0.0.1", ideal_server.port, user=f"user{i}") as conn:
                conn.run(hagen_base_configuration().to_program())
                mac = MAC(w, num_sends=1 + i % 3)
                for _ in range(n_programs):
                    x = rng.integers(0, 32, (2, n_in))
                    y = mac.run(x, conn)
                    if not np.array_equal(y.astype(np.int64), exact(x, w, mac.num_sends)):
                        errors.append(f"client {i}: wrong result")
                    counts[i] += 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert counts == [n_programs] * n_clients
    time.sleep(0.2)
    log = ideal_server.log()
    for i in range(n_clients):
        assert re.search(rf"connect user=user{i} session=\d+", log)
        assert re.search(rf"disconnect user=user{i} session=\d+ programs=21 ", log)


def test_remote_matches_in_process_and_reports_chip(ideal_server):
    with RemoteConnection("127.0.0.1", ideal_server.port, user="probe") as conn:
        assert conn.chip_id == "ideal" and conn.model_version >= 1
        assert conn.get_unique_identifier() == "hxemu-chip-ideal"
        local = EmulatorConnection("ideal")
        words = np.concatenate([hagen_base_configuration().to_program().words,
                                np.array([0x0A00000000000000], dtype=np.uint64)])
        r_remote, s, e = conn.execute_words(words)
        r_local, _, _ = local.execute_words(words)
        assert np.array_equal(r_remote, r_local) and e > s
        assert np.array_equal(conn.shadow.words, local.shadow.words)


def test_a_new_user_starts_from_the_reset_configuration(ideal_server):
    """A writes a register; B (new) reads the reset value there; A still reads its value."""
    from driver.builder import PlaybackProgramBuilder
    from driver.containers import CapMemCell
    from driver.coordinates import CapMemCellOnDLS

    coord = CapMemCellOnDLS(block=1, column=7, row=3)

    def read(conn):
        b = PlaybackProgramBuilder()
        t = b.read(coord, CapMemCell)
        conn.run(b.done())
        return t.get().value

    with RemoteConnection("127.0.0.1", ideal_server.port, user="alice") as a, \
            RemoteConnection("127.0.0.1", ideal_server.port, user="bob") as b:
        reset = read(b)
        w = PlaybackProgramBuilder()
        w.write(coord, CapMemCell(value=reset + 123))
        a.run(w.done())
        assert read(b) == reset
        assert read(a) == reset + 123
        assert read(b) == reset


def test_fairness_round_robin(ideal_server):
    """A queues 50 long programs, then B 5: B's run interleaved with A's, not after them."""
    words = mac_program(300)
    a, b = RawClient(ideal_server.port), RawClient(ideal_server.port)
    try:
        a.hello("fair-a")
        b.hello("fair-b")
        for k in range(50):
            a.program(words, k)
        for k in range(5):
            b.program(words, 1000 + k)
        starts = []
        for client, n, who in ((a, 50, "A"), (b, 5, "B")):
            for _ in range(n):
                ftype, seq, payload = client.recv()
                assert ftype == P.FrameType.RESULT, P.parse_error(payload)
                _, start, _ = P.parse_result(payload)
                starts.append((start, who, seq))
    finally:
        a.close()
        b.close()
    order = [who for _, who, _ in sorted(starts)]
    first, last = order.index("B"), len(order) - 1 - order[::-1].index("B")
    assert order[first:last + 1].count("A") <= 5, "".join(order)
    assert order[last + 1:].count("A") >= 20, "".join(order)
    a_seqs = [seq for _, who, seq in sorted(starts) if who == "A"]
    assert a_seqs == sorted(a_seqs)  # one user's programs run in order


@pytest.fixture(scope="module")
def calibration():
    with EmulatorConnection(0, seed=11) as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore", RangeLimitWarning)  # a few drivers at the range limit
        return calibrate(conn, measure_summary=False).to_cocolist()


def _gain_cv(conn) -> float:
    amp = M.neuron_amplitudes(conn, 10, 21, 20)
    gain = amp / (10 * 21 * 128)
    return float(np.std(gain) / np.mean(gain))


def test_calibrated_and_uncalibrated_users_share_chip_0(calibration):
    with LocalServer("--chip-id", "0", "--seed", "3") as srv, \
            RemoteConnection("127.0.0.1", srv.port, user="calibrated") as a, \
            RemoteConnection("127.0.0.1", srv.port, user="uncalibrated") as b:
        apply_calibration(a, calibration, {"chip_id": 0, "model_version": a.model_version})
        b.run(hagen_base_configuration().to_program())
        cv_a, cv_b = [], []
        for _ in range(3):  # interleaved: every measurement follows a switch
            cv_a.append(_gain_cv(a))
            cv_b.append(_gain_cv(b))
        assert max(cv_a) <= 0.03, cv_a
        assert min(cv_b) >= 0.10, cv_b
        sa, sb = summary(a, CalibrationTarget()), summary(b, CalibrationTarget())
        assert sa["gain_cv"] <= 0.03 and sb["gain_cv"] >= 0.10
        assert sa["resting_within_2"] >= 0.95 > sb["resting_within_2"]
        assert sa["driver_mismatch"] < 2 < sb["driver_mismatch"]


def test_shutdown_refuses_the_queue_and_finishes_the_running_program():
    words = mac_program(300)
    with LocalServer("--chip-id", "ideal", "--max-queue", "64") as srv:
        c = RawClient(srv.port)
        c.hello("late")
        for k in range(40):
            c.program(words, k)
        first = c.recv()
        assert first[0] == P.FrameType.RESULT and first[1] == 0
        srv.process.send_signal(signal.SIGTERM)
        answered = {0: "result"}
        final = None
        while (frame := c.recv()) is not None:
            ftype, seq, payload = frame
            if ftype == P.FrameType.RESULT:
                responses, start, end = P.parse_result(payload)
                assert responses[-1] == 0x0200000000000000 and end > start  # the halt echo
                answered[seq] = "result"
            else:
                code, msg = P.parse_error(payload)
                assert code == P.ErrorCode.SHUTTING_DOWN, msg
                if seq == 0 and 0 in answered:
                    final = msg
                else:
                    answered[seq] = "refused"
        assert sorted(answered) == list(range(40))
        assert "refused" in answered.values() and final is not None
        assert srv.process.wait(30) == 0
        assert "stopping: refusing" in srv.log()


def test_hxemu_serve_subcommand_starts_and_stops_on_sigint():
    p = subprocess.Popen([sys.executable, "-m", "frontend.cli", "serve", "--port", "0",
                          "--chip-id", "ideal"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=ROOT)
    try:
        line = p.stdout.readline()
        assert line.startswith("hxemu server listening on 127.0.0.1:")
        port = int(re.search(r":(\d+) ", line).group(1))
        with RemoteConnection("127.0.0.1", port, user="cli") as conn:
            assert conn.chip_id == "ideal"
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 0
        err = p.stderr.read()
        assert "connect user=cli" in err and "disconnect user=cli" in err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_server_benchmark_runs_small(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_server",
                                                  ROOT / "benchmarks" / "bench_server.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--words", "20000", "--repeats", "1", "--batch", "5", "--fair-a", "8",
                       "--fair-b", "2", "--chip-id", "ideal"]) == 0
    out = capsys.readouterr().out
    for text in ("(a) words/s", "ratio", "(b) MAC 128x256, batch    5", "(c) user switch",
                 "(d) fairness: A submits 8, B 2", "B done after"):
        assert text in out, out
