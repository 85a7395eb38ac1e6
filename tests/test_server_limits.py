"""The server's limits (docs/server.md "Limits"): what people who never authenticated, clients
that do not read and programs with huge answers can make the server hold is bounded, and every
refusal is an error frame; the client caps every frame length it accepts."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import numpy as np
import pytest
from server_helpers import HALT, RawClient

from driver import PlaybackError, RemoteConnection, RemoteError
from driver import instructions as ins
from driver import protocol as P
from driver.base_config import hagen_base_configuration
from driver.builder import PlaybackProgramBuilder
from driver.containers import MADCConfig, MADCControl
from driver.coordinates import MADCConfigOnDLS, MADCControlOnDLS
from driver.mac import MAC
from driver.server import LocalServer, ServerConfig

TOKEN = "limits-token"
E = P.ErrorCode
MAX_HELLO = 4096
MAX_RESULT = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    token_file = tmp_path_factory.mktemp("limits") / "token"
    token_file.write_text(TOKEN)
    with LocalServer("--chip-id", "ideal", "--token-file", str(token_file), "--max-queue", "4",
                     "--hello-timeout", "3", "--max-hello-bytes", str(MAX_HELLO),
                     "--max-connections", "24", "--max-connections-per-address", "8",
                     "--max-unread-answers", "16", "--write-timeout", "2",
                     "--max-result-bytes", str(MAX_RESULT), "--max-json-depth", "8") as srv:
        yield srv


def raw_from(server, source: str) -> RawClient:
    """A raw client from another loopback address (127.0.0.0/8 all reach the server)."""
    c = RawClient.__new__(RawClient)
    c.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30,
                                      source_address=(source, 0))
    return c


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def works(server) -> None:
    with RemoteConnection("127.0.0.1", server.port, user="honest", token=TOKEN) as conn:
        assert conn.execute_words(HALT)[0].tolist() == [0x0200000000000000]


def test_a_big_hello_is_refused_unread_before_the_token(server):
    before = rss_kib(server.process.pid)
    for _ in range(6):  # 60 MiB each, announced: refused at the header, nothing buffered
        c = RawClient(server.port)
        c.send(P.header(P.FrameType.HELLO, 60 << 20))
        code, msg = c.recv_error()
        assert code == E.TOO_LARGE and f"maximum of {MAX_HELLO} bytes" in msg
        assert c.closed()
    assert rss_kib(server.process.pid) - before < 16 * 1024
    works(server)


def test_the_hello_has_a_deadline(server):
    idle = RawClient(server.port)  # sends nothing
    slow = RawClient(server.port)  # a hello dribbled a byte at a time
    frame = P.json_frame(P.FrameType.HELLO, {"user": "slow", "token": TOKEN})
    t0 = time.monotonic()
    for b in frame[:20]:
        try:
            slow.send(bytes([b]))
        except OSError:
            break
        time.sleep(0.1)
    for c in (idle, slow):
        code, msg = c.recv_error()
        assert code == E.TRUNCATED and "no complete hello within 3 s" in msg and c.closed()
    assert time.monotonic() - t0 < 10
    works(server)


def test_connections_are_limited_per_address_and_in_total(server):
    first = [raw_from(server, "127.0.0.2") for _ in range(8)]
    extra = raw_from(server, "127.0.0.2")
    code, msg = extra.recv_error()
    assert code == E.BUSY and "from 127.0.0.2" in msg and "per address is 8" in msg
    assert extra.closed()
    other = RawClient(server.port)  # another address is served meanwhile
    other.hello("other", TOKEN)
    other.close()
    time.sleep(0.2)
    more = [raw_from(server, f"127.0.0.{k}") for k in (3, 4) for _ in range(8)]
    time.sleep(0.2)  # 24 open: the total is reached
    over = raw_from(server, "127.0.0.5")
    code, msg = over.recv_error()
    assert code == E.BUSY and "maximum is 24" in msg
    for c in first + more:  # the idle ones are cut at the hello deadline
        assert c.recv_error()[0] == E.TRUNCATED
        c.close()
    works(server)
    assert "refused peer=127.0.0.2" in server.log()


def test_bad_json_in_the_hello_gets_an_error_frame(server):
    for payload, what in ((b"[" * 200_000, "exceeds the maximum"),
                          (b'{"user": ' + b"[" * 100 + b"]" * 100 + b"}", "nested 101 levels"),
                          (b'{"user": "x", "a": "[[[[[[[[[[[[["}', "authentication")):
        c = RawClient(server.port)
        try:
            c.send(P.header(P.FrameType.HELLO, len(payload)) + payload)
        except OSError:  # the server may close before all of it is sent
            pass
        code, msg = c.recv_error()
        assert what in msg and c.closed(), msg
    works(server)


def test_a_client_that_does_not_read_is_disconnected(server):
    before = rss_kib(server.process.pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", server.port))
    s.sendall(P.json_frame(P.FrameType.HELLO, {"user": "deaf", "token": TOKEN}))
    frame = P.header(P.FrameType.PROGRAM, 0) * 4096  # answered QUEUE_FULL or RESULT
    sent, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < 30:
            s.sendall(frame)
            sent += 4096
    except OSError:  # reset by the server
        pass
    s.close()
    assert time.monotonic() - t0 < 30, "the server kept a client that does not read"
    deadline = time.monotonic() + 10
    while "disconnect user=deaf" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = re.search(r"disconnect user=deaf .*", server.log()).group(0)
    assert "disconnected by the server: does not read its answers" in line, line
    assert rss_kib(server.process.pid) - before < 32 * 1024, sent
    works(server)


def test_results_are_bounded(server):
    with RemoteConnection("127.0.0.1", server.port, user="greedy", token=TOKEN) as conn:
        assert conn.max_result_bytes == MAX_RESULT
        # an MADC recording that could exceed the limit is refused before it runs
        b = PlaybackProgramBuilder()
        b.write(MADCConfigOnDLS(), MADCConfig(enable=True, neuron=0, readout_source=0,
                                              sample_period=12, number_of_samples=1 << 22))
        b.write(MADCControlOnDLS(), MADCControl(start_recording=True))
        words = np.concatenate([b.done().words, HALT])
        assert words.nbytes < 100
        with pytest.raises(RemoteError, match=r"MADC samples.*--max-result-bytes") as e:
            conn.execute_words(words)
        assert e.value.code == E.PROGRAM_FAILED
        # a result larger than the limit (loopback answers) is refused after the run
        loops = np.concatenate([np.tile(ins.encode("system_loopback", 1), MAX_RESULT // 8),
                                HALT])
        with pytest.raises(RemoteError, match=rf"exceeds the server's maximum of {MAX_RESULT}"):
            conn.execute_words(loops)
        # the driver knows a MAC's recording before sending it: refused without sending
        conn.run(hagen_base_configuration().to_program())
        mac = MAC(np.ones((8, 8), dtype=np.int64))
        with pytest.raises(RemoteError, match="more than the server's maximum result") as e:
            mac.run(np.ones((100, 8), dtype=np.int64), conn, madc_neuron=0)
        assert e.value.code == E.TOO_LARGE
        assert mac.run(np.ones((1, 8), dtype=np.int64), conn).tolist() == [[0] * 8]
        assert conn.execute_words(HALT)[0].tolist() == [0x0200000000000000]


def test_server_config_refuses_nonsense_limits():
    from driver.server import ChipServer

    for field, bad in (("max_connections", 0), ("max_hello_bytes", 10),
                       ("max_result_bytes", 8), ("write_timeout_s", 0.0),
                       ("max_json_depth", 0)):
        with pytest.raises(ValueError, match=field):
            ChipServer(ServerConfig(chip_id="ideal", **{field: bad}))


# -- the client against a fake server ---------------------------------------------------------

class FakeServer:
    """Answers one hello with the bytes given (then whatever `then` is)."""

    def __init__(self, reply: bytes, then: bytes = b"") -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.reply, self.then = reply, then
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            head = conn.recv(P.HEADER_SIZE)
            conn.recv(P.HEADER.unpack(head)[-1])
            conn.sendall(self.reply)
            if self.then:
                conn.recv(1 << 16)
                conn.sendall(self.then)
            time.sleep(1)

    def close(self) -> None:
        self.sock.close()


WELCOME = {"chip_id": "ideal", "model_version": 1, "identifier": "fake", "session": 1,
           "user": "u", "max_frame_bytes": 1 << 20, "max_queue": 4,
           "max_result_bytes": 1 << 16, "protocol": 1, "server": "fake"}


@pytest.mark.parametrize("reply,match", [
    (P.header(P.FrameType.WELCOME, 1 << 30), "WELCOME frame of 1073741824 bytes"),
    (P.header(P.FrameType.WELCOME, 0xFFFFFFFF), "WELCOME frame of 4294967295 bytes"),
    (P.header(P.FrameType.ERROR, 1 << 30), "ERROR frame of 1073741824 bytes"),
    (P.json_frame(P.FrameType.WELCOME, {}).replace(b"{}", b"[]"), "not a JSON object"),
    (P.header(P.FrameType.WELCOME, 3 * 10_000) + b"[" * 10_000 + b"]" * 20_000, "nested"),
    (P.json_frame(P.FrameType.WELCOME, {**WELCOME, "max_result_bytes": 1 << 40}),
     "max_result_bytes=1099511627776"),
    (P.json_frame(P.FrameType.WELCOME, {**WELCOME, "max_queue": "many"}), "max_queue='many'"),
])
def test_the_client_trusts_no_length_or_welcome(reply, match):
    fake = FakeServer(reply)
    t0 = time.monotonic()
    with pytest.raises(PlaybackError, match=match) as e:
        RemoteConnection("127.0.0.1", fake.port, user="u", retry_s=2)
    assert type(e.value).__name__ in ("PlaybackError", "RemoteError")
    assert time.monotonic() - t0 < 5
    fake.close()


def test_the_client_caps_results_at_the_announced_maximum():
    fake = FakeServer(P.json_frame(P.FrameType.WELCOME, WELCOME),
                      then=P.header(P.FrameType.RESULT, (1 << 16) + 1, 0))
    conn = RemoteConnection("127.0.0.1", fake.port, user="u", retry_s=2)
    with pytest.raises(PlaybackError, match=r"RESULT frame of 65537 bytes, more than the 65536"):
        conn.execute_words(HALT)
    with pytest.raises(PlaybackError, match="closed"):
        conn.execute_words(HALT)
    fake.close()


def test_welcome_announces_every_limit(server):
    c = RawClient(server.port)
    welcome = c.hello("raw", TOKEN)
    assert welcome["max_result_bytes"] == MAX_RESULT and welcome["max_queue"] == 4
    c.close()
    assert json.dumps(welcome)  # plain JSON


def test_max_connections_fit_the_file_limit(monkeypatch):
    import resource

    from driver import server as S

    limits = {"soft": 100, "hard": 120}
    monkeypatch.setattr(resource, "getrlimit", lambda _: (limits["soft"], limits["hard"]))

    def setrlimit(_, value):
        limits["soft"] = value[0]

    monkeypatch.setattr(resource, "setrlimit", setrlimit)
    assert S._fit_file_limit(50) == 50 and limits["soft"] == 100  # fits: untouched
    assert S._fit_file_limit(80) == 80 and limits["soft"] == 80 + S.FD_RESERVE  # raised
    assert S._fit_file_limit(256) == 120 - S.FD_RESERVE  # the hard limit: fewer connections
    assert limits["soft"] == 120
