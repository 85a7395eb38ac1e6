"""Faults against a running server: each gets its documented outcome (docs/server.md), the other
clients' results stay correct and the server keeps serving."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from server_helpers import HALT, RawClient, exact, mac_program

from driver import PlaybackError, RemoteConnection, RemoteError
from driver import instructions as ins
from driver import protocol as P
from driver.base_config import hagen_base_configuration
from driver.mac import MAC
from driver.server import LocalServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"
MAX_FRAME = 4 * 1024 * 1024
MAX_QUEUE = 4
E = P.ErrorCode


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    token_file = tmp_path_factory.mktemp("server") / "token"
    token_file.write_text(TOKEN + "\n")
    with LocalServer("--chip-id", "ideal", "--token-file", str(token_file), "--max-frame-bytes",
                     str(MAX_FRAME), "--max-queue", str(MAX_QUEUE),
                     "--frame-timeout", "2") as srv:
        yield srv


class Bystander:
    """A well-behaved client with its own weights, checked after every fault."""

    def __init__(self, port: int, user: str, seed: int) -> None:
        self.conn = RemoteConnection("127.0.0.1", port, user=user, token=TOKEN)
        self.conn.run(hagen_base_configuration().to_program())
        self.rng = np.random.default_rng(seed)
        self.w = self.rng.integers(-63, 64, (150, 60))
        self.mac = MAC(self.w, num_sends=2)

    def check(self, times: int = 1) -> None:
        for _ in range(times):
            x = self.rng.integers(0, 32, (2, 150))
            assert np.array_equal(self.mac.run(x, self.conn).astype(np.int64),
                                  exact(x, self.w, 2))


@pytest.fixture(scope="module")
def bystander(server):
    b = Bystander(server.port, "bystander", 7)
    yield b
    b.conn.close()


def authed(server) -> RawClient:
    c = RawClient(server.port)
    c.hello("raw", TOKEN)
    return c


def test_garbage_bytes_get_malformed_and_close(server, bystander):
    c = RawClient(server.port)
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    code, msg = c.recv_error()
    assert code == E.MALFORMED and "not an hxemu frame" in msg
    assert c.closed()
    c = authed(server)  # garbage after a good hello, too
    c.send(bytes(range(64)))
    assert c.recv_error()[0] == E.MALFORMED and c.closed()
    bystander.check()


def test_truncated_frames_get_truncated_and_close(server, bystander):
    c = authed(server)
    c.send(P.header(P.FrameType.PROGRAM, 800, 1) + bytes(100))
    c.sock.shutdown(socket.SHUT_WR)
    code, msg = c.recv_error()
    assert code == E.TRUNCATED and "100 of 800" in msg and c.closed()
    c = RawClient(server.port)  # a truncated header before the hello
    c.send(P.MAGIC + b"\x01")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.recv_error()[0] == E.TRUNCATED and c.closed()
    c = authed(server)  # a frame that stalls longer than --frame-timeout (2 s)
    c.send(P.header(P.FrameType.PROGRAM, 800, 1) + bytes(8))
    t0 = time.monotonic()
    code, msg = c.recv_error()
    assert code == E.TRUNCATED and "stalled" in msg and c.closed()
    assert 1.5 < time.monotonic() - t0 < 10
    bystander.check()


def test_oversized_frame_is_refused_unread_and_closes(server, bystander):
    c = authed(server)
    c.send(P.header(P.FrameType.PROGRAM, 2 * MAX_FRAME, 1))
    code, msg = c.recv_error()
    assert code == E.TOO_LARGE and str(MAX_FRAME) in msg and c.closed()
    big = np.concatenate([np.tile(ins.encode("system_loopback", 1), MAX_FRAME // 8 + 1), HALT])
    conn = RemoteConnection("127.0.0.1", server.port, user="big", token=TOKEN)
    with pytest.raises(RemoteError, match="split it") as e:  # refused before sending
        conn.execute_words(big)
    assert e.value.code == E.TOO_LARGE
    assert conn.execute_words(HALT)[0].tolist() == [0x0200000000000000]
    conn.close()
    with pytest.raises(PlaybackError, match="closed"):
        conn.execute_words(HALT)
    bystander.check()


def test_wrong_protocol_version_is_refused(server, bystander):
    c = RawClient(server.port)
    payload = b'{"user": "old", "token": "%s"}' % TOKEN.encode()
    c.send(P.header(P.FrameType.HELLO, len(payload), version=99) + payload)
    ftype, _, body = c.recv()
    code, msg = P.parse_error(body)
    assert code == E.VERSION and "version 99" in msg and c.closed()
    bystander.check()


def test_wrong_or_missing_token_is_refused_before_any_program(server, bystander):
    for token in ("wrong", None, TOKEN + "x", ""):
        t0 = time.monotonic()
        with pytest.raises(RemoteError) as e:
            RemoteConnection("127.0.0.1", server.port, user="intruder", token=token)
        assert e.value.code == E.AUTH and time.monotonic() - t0 < 5  # no retrying
    c = RawClient(server.port)  # a program sent right behind a bad hello never runs
    c.send(P.json_frame(P.FrameType.HELLO, {"user": "intruder", "token": "wrong"}))
    c.program(ins.omnibus_write([0x0014_0060], [777]), 1)
    assert c.recv_error()[0] == E.AUTH and c.closed()
    assert re.search(r"refused user=intruder peer=\S+: authentication failed", server.log())
    assert "connect user=intruder" not in server.log()
    bystander.check()


def test_protocol_misuse_closes(server, bystander):
    c = RawClient(server.port)  # a program before the hello
    c.program(HALT[:0], 1)
    assert c.recv_error()[0] == E.PROTOCOL and c.closed()
    c = RawClient(server.port)  # a hello that is not JSON
    c.send(P.header(P.FrameType.HELLO, 5) + b"hello")
    assert c.recv_error()[0] == E.MALFORMED and c.closed()
    c = authed(server)  # a program that is not whole words
    c.send(P.header(P.FrameType.PROGRAM, 12, 1) + bytes(12))
    assert c.recv_error()[0] == E.MALFORMED and c.closed()
    c = authed(server)  # an unknown frame type
    c.send(P.HEADER.pack(P.MAGIC, P.PROTOCOL_VERSION, 77, 0, 0, 0))
    assert c.recv_error()[0] == E.MALFORMED and c.closed()
    c = authed(server)  # a server-to-client frame from a client
    c.send(P.header(P.FrameType.RESULT, 0))
    assert c.recv_error()[0] == E.PROTOCOL and c.closed()
    bystander.check()


def test_a_failing_program_is_an_error_for_that_program_only(server, bystander):
    with RemoteConnection("127.0.0.1", server.port, user="clumsy", token=TOKEN) as conn:
        bad = np.concatenate([np.array([0xFF << 56], dtype=np.uint64), HALT])
        with pytest.raises(RemoteError, match="unknown instruction header") as e:
            conn.execute_words(bad)
        assert e.value.code == E.PROGRAM_FAILED
        early_halt = np.concatenate([HALT, ins.encode("system_loopback", 1), HALT])
        with pytest.raises(RemoteError, match="after the halt"):
            conn.execute_words(early_halt)
        responses, _, _ = conn.execute_words(HALT)  # the connection still works
        assert responses.tolist() == [0x0200000000000000]
    bystander.check()


VICTIM = """
import sys
from driver import RemoteConnection
from server_helpers import HALT, mac_program
import numpy as np
conn = RemoteConnection("127.0.0.1", int(sys.argv[1]), user="victim", token=sys.argv[2])
words = np.concatenate([mac_program(1000), HALT])
print("sending", flush=True)
conn.execute_many([words] * 4)
"""


def test_a_client_killed_mid_program_costs_only_its_own_work(server, bystander):
    p = subprocess.Popen([sys.executable, "-c", VICTIM, str(server.port), TOKEN],
                         stdout=subprocess.PIPE, text=True, cwd=ROOT / "tests")
    try:
        assert p.stdout.readline().strip() == "sending"
        time.sleep(0.05)  # its programs are on the wire, queued or running
        p.kill()
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    bystander.check(3)
    deadline = time.monotonic() + 10
    while "disconnect user=victim" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = re.search(r"disconnect user=victim .*", server.log()).group(0)
    # killed while its frames were still on the way (a loaded machine), the last is cut short
    assert ("connection lost" in line or "closed by the client" in line
            or "ended inside a frame" in line), line
    ran, dropped = (int(v) for v in re.search(r"programs=(\d+) .* dropped=(\d+)", line).groups())
    assert ran + dropped <= 4 and ran < 4, line  # what was queued was dropped, nothing more
    # its outstanding programs were released: the same user may queue a full window again
    with RemoteConnection("127.0.0.1", server.port, user="victim", token=TOKEN) as again:
        results = again.execute_many([HALT] * MAX_QUEUE)
        assert len(results) == MAX_QUEUE
    bystander.check()


def test_a_flooding_client_gets_queue_full_and_others_are_served(server, bystander):
    words = mac_program(50)
    n = 6 * MAX_QUEUE
    stop = threading.Event()
    other_errors: list = []

    def others() -> None:
        try:
            while not stop.is_set():
                bystander.check()
        except Exception as e:  # pragma: no cover - reported below
            other_errors.append(e)

    t = threading.Thread(target=others)
    t.start()
    try:
        c = authed(server)
        for k in range(n):
            c.program(words, k)
        answers = {}
        for _ in range(n):
            ftype, seq, payload = c.recv()
            assert seq not in answers
            if ftype == P.FrameType.RESULT:
                responses, _, _ = P.parse_result(payload)
                assert responses[-1] == 0x0200000000000000
                answers[seq] = "result"
            else:
                code, msg = P.parse_error(payload)
                assert code == E.QUEUE_FULL and f"{MAX_QUEUE} programs outstanding" in msg
                answers[seq] = "refused"
        assert sorted(answers) == list(range(n))
        assert list(answers.values()).count("result") >= MAX_QUEUE
        assert "refused" in answers.values()
        c.program(HALT[:0], n)  # the flooding connection itself stays usable
        assert c.recv()[0] == P.FrameType.RESULT
        c.close()
    finally:
        stop.set()
        t.join(60)
    assert not other_errors, other_errors
    bystander.check()


def test_server_still_serves_after_all_faults(server, bystander):
    assert server.alive()
    bystander.check(2)
    with RemoteConnection("127.0.0.1", server.port, user="late", token=TOKEN) as conn:
        assert conn.execute_words(HALT)[0].tolist() == [0x0200000000000000]


def test_connect_retries_then_names_host_and_port():
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match=rf"127\.0\.0\.1:{port}"):
        RemoteConnection("127.0.0.1", port, retry_s=0.6)
    assert 0.5 < time.monotonic() - t0 < 5
