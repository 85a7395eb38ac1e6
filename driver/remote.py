"""Clients of the chip server: `RemoteConnection` and `connection_from_env()` (docs/server.md).

`RemoteConnection` has the interface of `EmulatorConnection` that the MAC compiler and the
calibration use: `run(program)`, `execute_words(words)`, a local `shadow` of what it wrote,
`chip_id`, `model_version`, `get_unique_identifier()`, `close()` and the context manager.
`connection_from_env()` picks a remote or an in-process chip from the environment, like
hxcomm's `get_connection_from_env` (docs/server.md).
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping

import numpy as np

from hwlayer.regmap import instructions as isa
from hwlayer.regmap.chip_id import parse_chip_id

from . import protocol as P
from .builder import Program
from .chip_image import ChipImage
from .connection import Connection, EmulatorConnection, PlaybackError
from .protocol import ErrorCode, FrameType, ProtocolError

DEFAULT_RETRY_S = 10.0
CLIENT_MAX_RESULT_BYTES = 1 << 30  # the most any server may announce as its result limit
_RECV_CHUNK = 1 << 20  # larger frames grow as their bytes arrive, not as announced


class RemoteError(PlaybackError):
    """The server answered with an error frame; `code` is its `protocol.ErrorCode` value."""

    def __init__(self, code: int, message: str) -> None:
        try:
            name = ErrorCode(code).name
        except ValueError:
            name = f"error {code}"
        super().__init__(f"{message} [{name}]")
        self.code = code


class RemoteConnection(Connection):
    """A chip served by `hxemu serve` (driver/server.py), reached over TCP.

    Connecting is retried with exponential backoff for up to `retry_s` seconds (the server may
    still be starting); then `ConnectionError` names host and port. `user` defaults to the
    login name; `token` must match the server's token file if it has one.

    The client trusts no length a server announces: a WELCOME or ERROR may have at most
    `protocol.MAX_CONTROL_FRAME_BYTES`, a RESULT at most the welcome's `max_result_bytes`
    (itself at most CLIENT_MAX_RESULT_BYTES); anything else is a `PlaybackError` and the
    connection is closed.
    """

    def __init__(self, host: str, port: int, *, user: str | None = None,
                 token: str | None = None, retry_s: float = DEFAULT_RETRY_S,
                 timeout_s: float | None = None) -> None:
        self.host, self.port = host, int(port)
        self.user = user or _login_name()
        self.shadow = ChipImage()  # what the host knows this chip holds
        self._lock = threading.Lock()
        self._seq = 0
        self._closed = False
        self._sock = self._connect(token, retry_s, timeout_s)

    # -- the interface of EmulatorConnection ---------------------------------------------------

    @property
    def chip_id(self) -> int | str:
        return self.welcome["chip_id"]

    @property
    def model_version(self) -> int:
        return self.welcome["model_version"]

    @property
    def session(self) -> int:
        return self.welcome["session"]

    def get_unique_identifier(self) -> str:
        return self.welcome["identifier"]

    def __repr__(self) -> str:
        return (f"RemoteConnection({self.host!r}, {self.port}, user={self.user!r}"
                f"{', closed' if self._closed else ''})")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()

    @property
    def max_result_bytes(self) -> int:
        return self.welcome.get("max_result_bytes", P.DEFAULT_MAX_RESULT_BYTES)

    def run(self, program: Program):
        """As `Connection.run`; a program that asks for more than the server's
        `max_result_bytes` (its reads, the halt echo and the MADC samples it configures) raises
        `RemoteError(TOO_LARGE)` before anything is sent."""
        if isinstance(program, Program):
            least = sum(program.expected.values()) + 1 + program.madc_samples
            if P.result_bytes(least) > self.max_result_bytes:
                raise RemoteError(int(ErrorCode.TOO_LARGE), (
                    f"the program asks for a result of {least} words "
                    f"({P.result_bytes(least)} bytes), more than the server's maximum result "
                    f"of {self.max_result_bytes} bytes; split it"))
        return super().run(program)

    def execute_words(self, words: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Message-level run: to-FPGA words ending with the halt -> (responses, start, end)."""
        return self.execute_many([words])[0]

    def execute_many(self, programs: Iterable[np.ndarray], window: int | None = None
                     ) -> list[tuple[np.ndarray, int, int]]:
        """Run several word arrays (each ending with the halt), pipelined: up to `window`
        (default: the server's queue limit) are in flight at once. Results in order; the
        first failure is raised once every program has been answered."""
        progs = [self._body(w) for w in programs]
        limit = self.welcome["max_frame_bytes"]
        for body, _ in progs:
            if 8 * body.size > limit:
                raise RemoteError(int(ErrorCode.TOO_LARGE), (
                    f"a program of {body.size} words ({8 * body.size} bytes) exceeds the "
                    f"server's maximum frame of {limit} bytes; split it"))
        window = max(1, min(window or self.welcome["max_queue"], self.welcome["max_queue"]))
        results: list = [None] * len(progs)
        with self._lock:
            if self._closed:
                raise PlaybackError("the connection is closed")
            first = self._seq
            sent = received = 0
            while received < len(progs):
                while sent < len(progs) and sent - received < window:
                    self._send_program(first + sent, progs[sent][0])
                    sent += 1
                ftype, seq, payload = self._recv_frame()
                k = (seq - first) & 0xFFFFFFFF
                if ftype == FrameType.ERROR:
                    code, msg = P.parse_error(payload)
                    err = RemoteError(code, msg)
                    if code not in _PER_PROGRAM or not 0 <= k < sent or results[k] is not None:
                        self._fail()
                        raise err
                    results[k] = err
                elif ftype == FrameType.RESULT and 0 <= k < sent and results[k] is None:
                    try:
                        results[k] = P.parse_result(payload)
                    except ProtocolError as e:
                        self._fail()
                        raise PlaybackError(f"bad result from {self.host}:{self.port}: {e}"
                                            ) from None
                else:
                    self._fail()
                    raise PlaybackError(f"unexpected {ftype.name} frame (seq {seq}) from "
                                        f"{self.host}:{self.port}")
                received += 1
            self._seq = (first + len(progs)) & 0xFFFFFFFF
        for (_, full), r in zip(progs, results):
            if not isinstance(r, Exception):
                self.shadow.update(full)
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results


    # -- the wire --------------------------------------------------------------------------------

    @staticmethod
    def _body(words) -> tuple[np.ndarray, np.ndarray]:
        w = np.asarray(words)
        if w.ndim != 1 or not (w.dtype == np.uint64 or w.size == 0):
            raise TypeError(f"words must be a 1-d numpy uint64 array, got {w.dtype} with shape "
                            f"{w.shape}")
        w = w.astype(np.uint64, copy=False)
        if w.size == 0 or w[-1] != _HALT[0]:
            raise PlaybackError("Reached end of program without halt instruction! "
                                "(execute_words takes words that end with the halt)")
        return w[:-1], w

    def _connect(self, token: str | None, retry_s: float, timeout_s: float | None
                 ) -> socket.socket:
        deadline = time.monotonic() + max(0.0, retry_s)
        delay, attempts = 0.05, 0
        while True:
            attempts += 1
            try:
                sock = socket.create_connection((self.host, self.port),
                                                timeout=max(1.0, min(10.0, retry_s)))
                break
            except OSError as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectionError(
                        f"could not connect to the hxemu server at {self.host}:{self.port} "
                        f"({attempts} attempt(s) in {retry_s:g} s): {e}") from e
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        try:
            sock.settimeout(max(1.0, retry_s))
            sock.sendall(P.json_frame(FrameType.HELLO, {
                "user": self.user, "token": token, "client": "hxemu RemoteConnection",
                "protocol": P.PROTOCOL_VERSION}))
            ftype, _, payload = self._recv_frame()
            if ftype == FrameType.ERROR:
                raise RemoteError(*P.parse_error(payload))
            if ftype != FrameType.WELCOME:
                raise PlaybackError(f"expected a welcome from {self.host}:{self.port}, got "
                                    f"{ftype.name}")
            self.welcome = self._check_welcome(payload)
            sock.settimeout(timeout_s)
        except BaseException:
            sock.close()
            self._closed = True
            raise
        return sock

    def _check_welcome(self, payload: bytes) -> dict:
        """The welcome's fields, checked: a PlaybackError names what a server got wrong."""
        try:
            w = P.parse_json(payload)
        except ProtocolError as e:
            raise PlaybackError(f"bad welcome from {self.host}:{self.port}: {e}") from None
        w.setdefault("max_result_bytes", P.DEFAULT_MAX_RESULT_BYTES)  # an older server
        checks = {"chip_id": lambda v: isinstance(v, str) or _int_in(v, 0, 1 << 31),
                  "model_version": lambda v: _int_in(v, 0, 1 << 31),
                  "identifier": lambda v: isinstance(v, str),
                  "session": lambda v: _int_in(v, 0, 1 << 63),
                  "max_frame_bytes": lambda v: _int_in(v, P.HEADER_SIZE, 1 << 32),
                  "max_queue": lambda v: _int_in(v, 1, 1 << 20),
                  "max_result_bytes": lambda v: _int_in(v, P.result_bytes(1),
                                                        CLIENT_MAX_RESULT_BYTES)}
        bad = [f"{k}={w.get(k)!r}" for k, ok in checks.items() if not ok(w.get(k))]
        if bad:
            raise PlaybackError(f"bad welcome from {self.host}:{self.port}: "
                                f"{', '.join(bad)}")
        return w

    def _send_program(self, seq: int, body: np.ndarray) -> None:
        data = P.program_payload(body)
        try:
            self._sock.sendall(P.header(FrameType.PROGRAM, data.nbytes, seq))
            if data.nbytes:
                self._sock.sendall(data)
        except OSError as e:
            reason = self._last_words()
            self._fail()
            if reason is not None:
                raise reason from e
            raise ConnectionError(f"lost the hxemu server at {self.host}:{self.port}: {e}"
                                  ) from e

    def _last_words(self) -> RemoteError | None:
        """The error frame a server sent before it closed the connection, if any."""
        try:
            self._sock.settimeout(1.0)
            while True:
                ftype, _, payload = self._recv_frame()
                if ftype == FrameType.ERROR:
                    return RemoteError(*P.parse_error(payload))
        except (OSError, PlaybackError):
            return None

    def _recv_exact(self, n: int) -> bytearray:
        buf = bytearray(min(n, _RECV_CHUNK))  # grows only as the bytes arrive
        got = 0
        while got < n:
            if got == len(buf):
                buf.extend(bytes(min(n - got, len(buf))))
            try:
                k = self._sock.recv_into(memoryview(buf)[got:])
            except OSError as e:
                self._fail()
                raise ConnectionError(f"lost the hxemu server at {self.host}:{self.port}: {e}"
                                      ) from e
            if k == 0:
                self._fail()
                raise ConnectionError(f"the hxemu server at {self.host}:{self.port} closed "
                                      "the connection")
            got += k
        return buf

    def _recv_frame(self) -> tuple[FrameType, int, bytearray]:
        head = bytes(self._recv_exact(P.HEADER_SIZE))
        try:
            ftype, seq, length = P.parse_header(head)
        except ProtocolError as e:
            self._fail()
            raise PlaybackError(f"bad frame from {self.host}:{self.port}: {e}") from None
        welcome = getattr(self, "welcome", None)
        cap = P.MAX_CONTROL_FRAME_BYTES
        if ftype == FrameType.RESULT and welcome is not None:
            cap = welcome["max_result_bytes"]
        if length > cap:
            self._fail()
            raise PlaybackError(f"bad frame from {self.host}:{self.port}: a {ftype.name} frame "
                                f"of {length} bytes, more than the {cap} this client accepts")
        return ftype, seq, self._recv_exact(length) if length else bytearray()

    def _fail(self) -> None:
        """The stream is out of step or gone: nothing more can run on this connection."""
        if not self._closed:
            self._closed = True
            self._sock.close()


_HALT = np.array([isa.HALT_WORD], dtype=np.uint64)
_PER_PROGRAM = (ErrorCode.QUEUE_FULL, ErrorCode.PROGRAM_FAILED)


def _int_in(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (e.g. a container without a passwd entry)
        return "anonymous"


def _int_env(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {env[name]!r}") from None


def remote_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment selects a remote chip (QUIGGELDY_ENABLED a non-zero int)."""
    env = os.environ if env is None else env
    enabled = env.get("QUIGGELDY_ENABLED", "").strip()
    return bool(enabled) and _int_env({"QUIGGELDY_ENABLED": enabled}, "QUIGGELDY_ENABLED") != 0


def connection_from_env(env: Mapping[str, str] | None = None
                        ) -> RemoteConnection | EmulatorConnection:
    """A connection chosen from the environment (hxcomm precedence: Quiggeldy first).

    - `QUIGGELDY_ENABLED` a non-zero integer: `RemoteConnection(QUIGGELDY_IP, QUIGGELDY_PORT,
      token=QUIGGELDY_TOKEN, user=QUIGGELDY_USER_NO_MUNGE)` (IP and port required).
    - otherwise the in-process chip: `EmulatorConnection(HXEMU_CHIP_ID, seed=HXEMU_SEED)`,
      chip id an int or "ideal" (default 0), seed an int (default: fresh randomness).
    """
    env = os.environ if env is None else env
    if remote_enabled(env):
        enabled = env["QUIGGELDY_ENABLED"].strip()
        missing = [k for k in ("QUIGGELDY_IP", "QUIGGELDY_PORT") if not env.get(k)]
        if missing:
            raise ValueError(f"QUIGGELDY_ENABLED={enabled} but {' and '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} not set")
        port = _int_env(env, "QUIGGELDY_PORT")
        if not 0 < port < 65536:
            raise ValueError(f"QUIGGELDY_PORT must be in 1..65535, got {port}")
        return RemoteConnection(env["QUIGGELDY_IP"], port, token=env.get("QUIGGELDY_TOKEN") or None,
                                user=env.get("QUIGGELDY_USER_NO_MUNGE") or None)
    chip = parse_chip_id(env.get("HXEMU_CHIP_ID", "").strip() or "0", "HXEMU_CHIP_ID")
    seed = env.get("HXEMU_SEED", "").strip()
    return EmulatorConnection(chip, seed=_int_env({"HXEMU_SEED": seed}, "HXEMU_SEED")
                              if seed else None)
