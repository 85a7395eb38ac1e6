"""The chip as a shared service: a quiggeldy-like micro-scheduler (docs/server.md).

`ChipServer` owns one emulated chip (an `EmulatorConnection`) and serves it over TCP with the
frames of `driver.protocol`. Several clients at once; the programs of one user run in the
order the server received them, users take turns round robin (one program per turn), so a
long queue cannot starve anyone.

Isolation: each client connection (session) has a `ChipImage` of everything it wrote, starting
from the chip's reset image; the server keeps one more image of the chip's current state. When
the chip passes to another session, the server first runs a switch program: an MADC stop (a
recording does not survive a hand-over), then the words where the chip's image differs from
the incoming session's (its reinit program). A session therefore never sees another's
configuration, and results go only to the session that sent the program. Each session has its
own image (not each user) because each client's driver keeps its own `ChipImage` (shadow);
sessions of the same user share that user's turn.

Limits (`ServerConfig`, docs/server.md "Limits"): everything a client can make the server
hold is bounded. Before the hello is accepted a connection may send at most `max_hello_bytes`
within `hello_timeout_s`, and the stream buffers stay small; connections are limited per
address and in total; frames larger than `max_frame_bytes` and malformed, truncated or stalled
frames get an error frame and the connection is closed; a user may have at most `max_queue`
programs outstanding (queued, running, or with the result not yet sent); answers a client does
not read are bounded (`max_unread_answers`, `write_timeout_s`: then it is disconnected); a
result may not exceed `max_result_bytes`; JSON may nest `max_json_depth` levels. With a token
configured, a client without the right token is refused before any program runs.
SIGINT/SIGTERM: stop accepting, refuse what is queued, finish the program that runs, send its
result, close.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import hmac
import logging
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwlayer.regmap import instructions as isa

from . import protocol as P
from .arguments import (
    chip_id_argument,
    int_argument,
    non_negative_argument,
    positive_argument,
)
from .builder import PlaybackProgramBuilder
from .chip_image import ChipImage
from .connection import EmulatorConnection, PlaybackError
from .containers import MADCControl
from .coordinates import MADCControlOnDLS
from .protocol import ErrorCode, FrameType, ProtocolError

log = logging.getLogger("hxemu.server")

_HALT = np.array([isa.HALT_WORD], dtype=np.uint64)
MAX_USER_LENGTH = 64
STREAM_LIMIT = 4 * 1024 * 1024  # buffer of an authenticated connection (big program frames)
HELLO_STREAM_LIMIT = 16 * 1024  # before the hello: the reader buffers at most twice this
FD_RESERVE = 32  # file descriptors kept free of client connections (logs, the chip, ...)


def _madc_stop() -> np.ndarray:
    b = PlaybackProgramBuilder()
    b.write(MADCControlOnDLS(), MADCControl(stop_recording=True))
    return b.done().words


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    chip_id: int | str = 0
    seed: int | None = None
    token: str | None = None
    max_frame_bytes: int = P.DEFAULT_MAX_FRAME_BYTES
    max_queue: int = P.DEFAULT_MAX_QUEUE
    hello_timeout_s: float = 5.0  # the whole hello must arrive this soon after connecting
    frame_timeout_s: float = 30.0  # a frame, once begun, must be complete this soon
    max_hello_bytes: int = P.DEFAULT_MAX_HELLO_BYTES  # largest hello payload
    max_connections: int = 256  # open connections in total (clamped to the file limit)
    max_connections_per_address: int = 64  # open connections from one client address
    max_unread_answers: int = 256  # answers queued for a client that does not read them
    write_timeout_s: float = 30.0  # an answer must leave within this time
    max_result_bytes: int = P.DEFAULT_MAX_RESULT_BYTES  # largest RESULT payload
    max_json_depth: int = P.DEFAULT_MAX_JSON_DEPTH  # nesting of the hello's JSON


@dataclass
class _Session:
    id: int
    user: str
    peer: str
    writer: asyncio.StreamWriter
    image: ChipImage = field(default_factory=ChipImage)
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    ending: bool = False  # no more frames are queued for it
    closed: bool = False  # its socket failed or is closed
    dropped_why: str | None = None  # why the server disconnected it (it did not read)
    programs: int = 0  # programs run
    failed: int = 0  # programs the chip could not run
    refused: int = 0  # programs refused (queue full)


@dataclass
class _Job:
    session: _Session
    seq: int
    words: np.ndarray  # with the halt


class _Scheduler:
    """Per-user FIFO queues served round robin; counts each user's outstanding programs."""

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.queues: dict[str, collections.deque[_Job]] = {}
        self.turns: collections.deque[str] = collections.deque()  # users with queued jobs
        self.outstanding: collections.Counter[str] = collections.Counter()

    def submit(self, job: _Job) -> bool:
        user = job.session.user
        if self.outstanding[user] >= self.max_queue:
            return False
        self.outstanding[user] += 1
        q = self.queues.setdefault(user, collections.deque())
        if not q:
            self.turns.append(user)
        q.append(job)
        return True

    def release(self, user: str) -> None:
        self.outstanding[user] -= 1
        if self.outstanding[user] <= 0:
            del self.outstanding[user]

    def take(self) -> _Job | None:
        """The next job: the first of the user whose turn it is (who then goes to the back)."""
        while self.turns:
            user = self.turns.popleft()
            q = self.queues[user]
            job = q.popleft()
            if q:
                self.turns.append(user)
            else:
                del self.queues[user]
            return job
        return None

    def remove_session(self, session: _Session) -> list[_Job]:
        q = self.queues.get(session.user)
        if not q:
            return []
        gone = [j for j in q if j.session is session]
        if gone:
            kept = collections.deque(j for j in q if j.session is not session)
            if kept:
                self.queues[session.user] = kept
            else:
                del self.queues[session.user]
                self.turns.remove(session.user)
        return gone

    def remove_all(self) -> list[_Job]:
        jobs = [j for user in self.turns for j in self.queues[user]]
        self.queues.clear()
        self.turns.clear()
        return jobs


class ChipServer:
    """Serve one emulated chip to many clients (see the module docstring).

    `connection`: the chip to serve (default: a new `EmulatorConnection` of `config.chip_id`);
    the server owns it from now on and drops its shadow.
    """

    def __init__(self, config: ServerConfig, connection: EmulatorConnection | None = None
                 ) -> None:
        for name in ("max_queue", "max_connections", "max_connections_per_address",
                     "max_unread_answers", "max_json_depth"):
            if getattr(config, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
        for name, least in (("max_frame_bytes", P.HEADER_SIZE), ("max_hello_bytes", 64),
                            ("max_result_bytes", P.result_bytes(1))):
            if getattr(config, name) < least:
                raise ValueError(f"{name} must be >= {least}, got {getattr(config, name)}")
        for name in ("hello_timeout_s", "frame_timeout_s", "write_timeout_s"):
            if not getattr(config, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(config, name)}")
        if config.token is not None and not config.token:
            raise ValueError("the token must not be empty")
        self.config = config
        # a connection passed in may hold anything: its state counts as unknown
        self.connection = connection or EmulatorConnection(config.chip_id, seed=config.seed)
        self.connection.shadow = None  # the session images below replace it
        self._scheduler = _Scheduler(config.max_queue)
        # the image of the chip's current state: the reset image, then the image of the session
        # that holds the chip (they are equal by construction); None: unknown (after a failure)
        self._chip_image: ChipImage | None = ChipImage() if connection is None else None
        self._holder: _Session | None = None  # whose configuration the chip holds
        self._madc_stop = _madc_stop()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hxemu-chip")
        self._sessions: dict[int, _Session] = {}
        self._tasks: set[asyncio.Task] = set()  # session writers
        self._handlers: set[asyncio.Task] = set()  # session readers
        self._next_session = 1
        self._open = collections.Counter()  # open connections per client address
        self.max_connections = _fit_file_limit(config.max_connections)
        # an MADC recording that alone could exceed the result limit is refused before it runs
        self._max_madc_samples = (config.max_result_bytes - P.result_bytes(0)) // 8
        self._work = asyncio.Event()
        self._stopping = False
        self._server: asyncio.base_events.Server | None = None
        self.address: tuple[str, int] | None = None
        self.stats = collections.Counter()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        # a small stream buffer until the hello is accepted; then a large one (_handle)
        self._server = await asyncio.start_server(self._handle, self.config.host,
                                                  self.config.port, limit=HELLO_STREAM_LIMIT)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        return self.address

    def request_stop(self) -> None:
        """Stop accepting; refuse what is queued; the running program finishes (serve())."""
        if self._stopping:
            return
        self._stopping = True
        log.info("stopping: refusing %d queued program(s)", sum(
            len(q) for q in self._scheduler.queues.values()))
        if self._server is not None:
            self._server.close()
        for job in self._scheduler.remove_all():
            self._send(job.session, [P.error_frame(
                ErrorCode.SHUTTING_DOWN, "the server is shutting down: program not run",
                job.seq)], counted=True)
        self._work.set()

    async def serve(self) -> None:
        """Run until request_stop(); then finish the running program and close every client."""
        if self._server is None:
            await self.start()
        try:
            await self._worker()
        finally:
            for s in list(self._sessions.values()):
                self._send(s, [P.error_frame(ErrorCode.SHUTTING_DOWN,
                                             "the server is shutting down")], counted=False)
                self._end(s)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=5.0)
            for s in list(self._sessions.values()):
                s.writer.close()
            if self._handlers:  # let them log their disconnect
                await asyncio.wait(self._handlers, timeout=5.0)
            self._server.close()
            await self._server.wait_closed()
            self._pool.shutdown(wait=True)
            self.connection.close()
            log.info("stopped after %d program(s), %d switch(es)", self.stats["programs"],
                     self.stats["switches"])

    # -- the chip ------------------------------------------------------------------------------

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = self._scheduler.take()
            if job is None:
                if self._stopping:
                    return
                self._work.clear()
                await self._work.wait()
                continue
            s = job.session
            if s.ending or s.closed:
                self._scheduler.release(s.user)
                continue
            try:
                responses, start, end = await loop.run_in_executor(self._pool, self._execute,
                                                                   job)
                size = P.result_bytes(responses.size)
                if size > self.config.max_result_bytes:
                    del responses
                    raise PlaybackError(
                        f"the result of {size} bytes exceeds the server's maximum of "
                        f"{self.config.max_result_bytes} bytes (--max-result-bytes): ask for "
                        "less per program")
                frame = P.result_frame(job.seq, responses, start, end)
                s.programs += 1
            except PlaybackError as e:
                frame = [P.error_frame(ErrorCode.PROGRAM_FAILED, str(e), job.seq)]
                s.failed += 1
            except Exception as e:  # a bug must not stop the chip for everyone
                log.exception("internal error running a program of user=%s session=%d",
                              s.user, s.id)
                self._chip_image, self._holder = None, None
                frame = [P.error_frame(ErrorCode.PROGRAM_FAILED,
                                       f"internal server error: {type(e).__name__}: {e}",
                                       job.seq)]
                s.failed += 1
            self._send(s, frame, counted=True)

    def _execute(self, job: _Job) -> tuple[np.ndarray, int, int]:
        """In the chip thread: hand the chip to the job's session if needed, run the job."""
        s, conn = job.session, self.connection
        if self._holder is not s or self._chip_image is None:
            self._switch_to(s)
        try:
            responses, start, end = conn.execute_words(job.words,
                                                       max_madc_samples=self._max_madc_samples)
        except PlaybackError as e:
            if "MADC samples" in str(e) and "allowed" in str(e):  # refused before it ran
                raise PlaybackError(f"{e} by the server's maximum result of "
                                    f"{self.config.max_result_bytes} bytes "
                                    "(--max-result-bytes)") from None
            self._chip_image, self._holder = None, None  # a failed run may have changed anything
            raise
        s.image.update(job.words)  # the chip's image too: it is the holder's
        self.stats["programs"] += 1
        self.stats["words"] += job.words.size
        return responses, start, end

    def _switch_to(self, s: _Session) -> None:
        chip = self._chip_image
        parts = []
        if chip is None or not chip.reset_asserted:
            parts.append(self._madc_stop)
        base = chip if chip is not None else ChipImage()
        parts.append(base.switch_words(s.image, everything=chip is None))
        words = np.concatenate(parts + [_HALT])
        try:
            self.connection.execute_words(words)
        except PlaybackError:
            self._chip_image, self._holder = None, None
            raise
        self._chip_image = s.image  # from now on the chip holds what the session's image says
        self._holder = s
        self.stats["switches"] += 1
        self.stats["switch_words"] += words.size

    # -- clients -------------------------------------------------------------------------------

    def _send(self, s: _Session, pieces: list, *, counted: bool) -> None:
        if s.ending or s.closed:
            if counted:
                self._scheduler.release(s.user)
            return
        if s.out.qsize() >= self.config.max_unread_answers:
            self._drop(s, f"does not read its answers ({s.out.qsize()} unsent, the server's "
                          "--max-unread-answers)")
            if counted:
                self._scheduler.release(s.user)
            return
        s.out.put_nowait((pieces, counted))

    def _drop(self, s: _Session, why: str) -> None:
        """Disconnect a client that does not read: its unsent answers are discarded."""
        if s.dropped_why is None:
            s.dropped_why = why
            self.stats["dropped_sessions"] += 1
        s.closed = True
        s.writer.transport.abort()

    def _end(self, s: _Session) -> None:
        """Queue nothing more for `s`; its writer sends what is queued, then stops."""
        if not s.ending:
            s.ending = True
            s.out.put_nowait(None)

    async def _write_loop(self, s: _Session) -> None:
        while True:
            item = await s.out.get()
            if item is None:
                break
            pieces, counted = item
            try:
                if not s.closed:
                    s.writer.writelines(pieces)
                    await asyncio.wait_for(s.writer.drain(), self.config.write_timeout_s)
            except (ConnectionError, OSError):
                s.closed = True
            except TimeoutError:
                self._drop(s, f"does not read its answers (none left within "
                              f"{self.config.write_timeout_s:g} s, the server's "
                              "--write-timeout)")
            finally:
                if counted:
                    self._scheduler.release(s.user)
        # nothing is queued after the None (_send refuses once the session is ending)

    async def _read_frame(self, reader: asyncio.StreamReader, hello: bool = False
                          ) -> tuple[FrameType, int, bytes] | None:
        """The next frame, None at a clean end of the stream; ProtocolError otherwise.

        `hello`: the first frame, whose payload may have at most `max_hello_bytes`."""
        cfg = self.config
        try:
            first = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None
        try:
            try:
                head = first + await asyncio.wait_for(reader.readexactly(P.HEADER_SIZE - 1),
                                                      cfg.frame_timeout_s)
            except asyncio.IncompleteReadError as e:
                raise ProtocolError(ErrorCode.TRUNCATED, f"the connection ended inside a frame "
                                    f"header ({1 + len(e.partial)} of {P.HEADER_SIZE} bytes)"
                                    ) from None
            ftype, seq, length = P.parse_header(head, cfg.max_frame_bytes)
            if hello and length > cfg.max_hello_bytes:
                raise ProtocolError(ErrorCode.TOO_LARGE, f"a first frame (the hello) of {length} "
                                    f"bytes exceeds the maximum of {cfg.max_hello_bytes} bytes")
            payload = await asyncio.wait_for(reader.readexactly(length), cfg.frame_timeout_s) \
                if length else b""
        except asyncio.IncompleteReadError as e:
            raise ProtocolError(ErrorCode.TRUNCATED, f"the connection ended inside a frame "
                                f"({len(e.partial)} of {e.expected} payload bytes)") from None
        except TimeoutError:
            raise ProtocolError(ErrorCode.TRUNCATED, f"a frame stalled for more than "
                                f"{cfg.frame_timeout_s} s") from None
        return ftype, seq, payload

    def _hello(self, ftype: FrameType, payload: bytes) -> str:
        """The user name of a valid hello (ProtocolError otherwise; `.user` if one was named)."""
        if ftype != FrameType.HELLO:
            raise ProtocolError(ErrorCode.PROTOCOL, f"expected a hello frame, got {ftype.name}")
        hello = P.parse_json(payload, self.config.max_json_depth)
        user = hello.get("user")
        if not isinstance(user, str) or not 0 < len(user) <= MAX_USER_LENGTH \
                or not user.isprintable():
            raise ProtocolError(ErrorCode.MALFORMED, f"the user name must be 1..{MAX_USER_LENGTH} "
                                "printable characters")
        if self.config.token is not None:
            token = hello.get("token")
            given = token.encode() if isinstance(token, str) else b""
            if not hmac.compare_digest(given, self.config.token.encode()):
                e = ProtocolError(ErrorCode.AUTH, "authentication failed: missing or wrong token")
                e.user = user
                raise e
        return user

    def _busy(self, host: str) -> str | None:
        """Why a new connection from `host` is refused (too many open), or None."""
        cfg = self.config
        if self._open.total() >= self.max_connections:
            return (f"too many connections: {self._open.total()} open, the server's maximum "
                    f"is {self.max_connections} (--max-connections)")
        if self._open[host] >= cfg.max_connections_per_address:
            return (f"too many connections from {host}: {self._open[host]} open, the "
                    f"maximum per address is {cfg.max_connections_per_address} "
                    "(--max-connections-per-address)")
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        busy = self._busy(host)
        if busy is not None:
            self.stats["busy"] += 1
            log.info("refused peer=%s:%s: %s", host, port, busy)
            writer.write(P.error_frame(ErrorCode.BUSY, busy))  # fits the socket buffer
            writer.close()
            return
        self._open[host] += 1
        try:
            await self._serve_client(reader, writer, f"{host}:{port}")
        finally:
            self._open[host] -= 1
            if self._open[host] <= 0:
                del self._open[host]

    async def _refuse(self, writer: asyncio.StreamWriter, code: ErrorCode, message: str
                      ) -> None:
        try:
            writer.write(P.error_frame(code, message))
            await asyncio.wait_for(writer.drain(), 5.0)
        except (ConnectionError, OSError, TimeoutError):
            pass
        writer.close()

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            peer: str) -> None:
        if self._stopping:
            writer.write(P.error_frame(ErrorCode.SHUTTING_DOWN, "the server is shutting down"))
            writer.close()
            return
        reason = "closed by the client"
        try:
            try:
                frame = await asyncio.wait_for(self._read_frame(reader, hello=True),
                                               self.config.hello_timeout_s)
            except TimeoutError:
                raise ProtocolError(ErrorCode.TRUNCATED, f"no complete hello within "
                                    f"{self.config.hello_timeout_s:g} s (--hello-timeout)"
                                    ) from None
            if frame is None:
                log.info("refused peer=%s: closed before the hello", peer)
                writer.close()
                return
            user = self._hello(frame[0], frame[2])
        except ProtocolError as e:
            claimed = getattr(e, "user", None)
            self.stats["refused"] += 1
            log.info("refused %speer=%s: %s", f"user={claimed} " if claimed else "", peer, e)
            await self._refuse(writer, e.code, str(e))
            return
        except (ConnectionError, OSError):
            writer.close()
            return
        reader._limit = STREAM_LIMIT  # authenticated: big frames arrive in few pause cycles
        handler = asyncio.current_task()
        self._handlers.add(handler)
        handler.add_done_callback(self._handlers.discard)
        s = _Session(self._next_session, user, peer, writer)
        self._next_session += 1
        self._sessions[s.id] = s
        writer_task = asyncio.create_task(self._write_loop(s))
        self._tasks.add(writer_task)
        writer_task.add_done_callback(self._tasks.discard)
        self._send(s, [P.json_frame(FrameType.WELCOME, {
            "chip_id": self.connection.chip_id, "model_version": self.connection.model_version,
            "identifier": self.connection.get_unique_identifier(), "session": s.id,
            "user": user, "max_frame_bytes": self.config.max_frame_bytes,
            "max_queue": self.config.max_queue, "protocol": P.PROTOCOL_VERSION,
            "max_result_bytes": self.config.max_result_bytes,
            "server": "hxemu"})], counted=False)
        log.info("connect user=%s session=%d peer=%s", user, s.id, peer)
        try:
            while True:
                frame = await self._read_frame(reader)
                if frame is None:
                    break
                ftype, seq, payload = frame
                if ftype != FrameType.PROGRAM:
                    raise ProtocolError(ErrorCode.PROTOCOL,
                                        f"unexpected {ftype.name} frame from a client")
                words = np.concatenate([P.parse_program(payload), _HALT])
                self._submit(s, seq, words)
                if s.closed:  # dropped (it does not read): what it buffered is not read
                    break
                # frames already buffered are read without suspending: let the writers and
                # the other clients run between two of them
                await asyncio.sleep(0)
        except ProtocolError as e:
            reason = f"{e.code.name}: {e}"
            self._send(s, [P.error_frame(e.code, str(e))], counted=False)
        except (ConnectionError, OSError) as e:
            reason = f"connection lost ({e})"
        finally:
            if s.dropped_why is not None:
                reason = f"disconnected by the server: {s.dropped_why}"
            dropped = self._scheduler.remove_session(s)
            for _ in dropped:
                self._scheduler.release(s.user)
            self._end(s)
            try:
                await asyncio.wait_for(asyncio.shield(writer_task), 5.0)
            except TimeoutError:
                pass
            s.closed = True
            del self._sessions[s.id]
            writer.close()
            log.info("disconnect user=%s session=%d programs=%d failed=%d refused=%d dropped=%d: "
                     "%s", s.user, s.id, s.programs, s.failed, s.refused, len(dropped), reason)

    def _submit(self, s: _Session, seq: int, words: np.ndarray) -> None:
        if self._stopping:
            self._send(s, [P.error_frame(ErrorCode.SHUTTING_DOWN, "the server is shutting down:"
                                         " program not run", seq)], counted=False)
            return
        if not self._scheduler.submit(_Job(s, seq, words)):
            s.refused += 1
            self._send(s, [P.error_frame(
                ErrorCode.QUEUE_FULL, f"user {s.user!r} has {self.config.max_queue} programs "
                "outstanding (the server's --max-queue): program refused, send it again later",
                seq)], counted=False)
            return
        self._work.set()


def _fit_file_limit(wanted: int) -> int:
    """`wanted` connections, fewer if the process's file limit cannot hold them plus
    FD_RESERVE (the soft limit is raised towards the hard one first): the server refuses
    connections with BUSY rather than failing to accept (EMFILE) or to open files."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # pragma: no cover - no such limit here
        return wanted
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    fit = max(1, soft - FD_RESERVE)
    log.warning("the file limit (%d) holds only %d connections: --max-connections %d "
                "lowered to %d", soft, fit, wanted, fit)
    return fit


# -- command line ----------------------------------------------------------------------------

_port = int_argument(0, 65535, " (0: any free port)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `serve` options (shared by `hxemu serve` and `python -m driver.server`)."""
    p.add_argument("--port", type=_port, required=True, help="TCP port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: loopback only)")
    p.add_argument("--chip-id", type=chip_id_argument, default=0, help="int or 'ideal' (default 0)")
    p.add_argument("--seed", type=non_negative_argument, default=None, help="temporal noise seed")
    p.add_argument("--token-file", default=None,
                   help="file holding the token clients must present (QUIGGELDY_TOKEN)")
    p.add_argument("--max-frame-bytes", type=positive_argument, default=P.DEFAULT_MAX_FRAME_BYTES,
                   help=f"largest frame accepted (default {P.DEFAULT_MAX_FRAME_BYTES})")
    p.add_argument("--max-queue", type=positive_argument, default=P.DEFAULT_MAX_QUEUE,
                   help=f"programs a user may have outstanding (default {P.DEFAULT_MAX_QUEUE})")
    p.add_argument("--frame-timeout", type=_seconds, default=30.0,
                   help="seconds a begun frame may take (default 30)")
    d = ServerConfig()
    p.add_argument("--hello-timeout", type=_seconds, default=d.hello_timeout_s,
                   help="seconds from connecting until the whole hello has arrived "
                        f"(default {d.hello_timeout_s:g})")
    p.add_argument("--max-hello-bytes", type=positive_argument, default=d.max_hello_bytes,
                   help=f"largest hello, read before the token is checked (default "
                        f"{d.max_hello_bytes})")
    p.add_argument("--max-connections", type=positive_argument, default=d.max_connections,
                   help=f"open connections in total (default {d.max_connections}; lowered to "
                        "fit the file limit)")
    p.add_argument("--max-connections-per-address", type=positive_argument,
                   default=d.max_connections_per_address,
                   help=f"open connections from one address (default "
                        f"{d.max_connections_per_address})")
    p.add_argument("--max-unread-answers", type=positive_argument, default=d.max_unread_answers,
                   help="answers queued for a client that does not read them before it is "
                        f"disconnected (default {d.max_unread_answers})")
    p.add_argument("--write-timeout", type=_seconds, default=d.write_timeout_s,
                   help="seconds an answer may wait for the client to read before it is "
                        f"disconnected (default {d.write_timeout_s:g})")
    p.add_argument("--max-result-bytes", type=positive_argument, default=d.max_result_bytes,
                   help=f"largest result of one program (default {d.max_result_bytes})")
    p.add_argument("--max-json-depth", type=positive_argument, default=d.max_json_depth,
                   help=f"nesting allowed in the hello's JSON (default {d.max_json_depth})")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    token = None
    if args.token_file is not None:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
        if not token:
            raise ValueError(f"token file {args.token_file} is empty")
    return ServerConfig(host=args.host, port=args.port, chip_id=args.chip_id, seed=args.seed,
                        token=token, max_frame_bytes=args.max_frame_bytes,
                        max_queue=args.max_queue, hello_timeout_s=args.hello_timeout,
                        frame_timeout_s=args.frame_timeout,
                        max_hello_bytes=args.max_hello_bytes,
                        max_connections=args.max_connections,
                        max_connections_per_address=args.max_connections_per_address,
                        max_unread_answers=args.max_unread_answers,
                        write_timeout_s=args.write_timeout,
                        max_result_bytes=args.max_result_bytes,
                        max_json_depth=args.max_json_depth)


def serve(config: ServerConfig, *, ready=None) -> int:
    """Run a server until SIGINT/SIGTERM; prints the address it listens on to stdout."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s hxemu-server %(message)s")
    log.setLevel(logging.INFO)

    async def main() -> None:
        server = ChipServer(config)
        host, port = await server.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.request_stop)
        print(f"hxemu server listening on {host}:{port} (chip {server.connection.chip_id}, "
              f"model version {server.connection.model_version}, protocol "
              f"{P.PROTOCOL_VERSION}, token {'required' if config.token else 'off'})",
              flush=True)
        if ready is not None:
            ready(server)
        await server.serve()

    t0 = time.perf_counter()
    asyncio.run(main())
    log.info("server ran %.1f s", time.perf_counter() - t0)
    return 0


class LocalServer:
    """A server in a child process on a free loopback port (like hxcomm's
    `launch_quiggeldy_locally_from_env`): `with LocalServer("--chip-id", "ideal") as srv:`.

    `args` are `hxemu serve` options (`--port 0` is added). `srv.port`, `srv.env()` (the
    QUIGGELDY_* variables that make `connection_from_env()` pick it), `srv.log()` (its stderr),
    `srv.stop()` (SIGTERM, then the exit code). Leaving the block stops it (or kills it).
    """

    def __init__(self, *args: str, startup_timeout_s: float = 120.0,
                 env: dict[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self._log = tempfile.NamedTemporaryFile(prefix="hxemu-server-", suffix=".log",
                                                delete=False)
        child_env = dict(os.environ if env is None else env)
        root = str(Path(__file__).resolve().parents[1])
        child_env["PYTHONPATH"] = os.pathsep.join(
            [root] + [p for p in [child_env.get("PYTHONPATH")] if p])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "driver.server", "--port", "0", "--host", self.host, *args],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, text=True,
            env=child_env)
        try:
            self.banner = self._read_banner(startup_timeout_s)
        except BaseException:
            self.kill()
            raise
        self.port = int(re.search(r":(\d+) ", self.banner).group(1))

    def _read_banner(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            ready, _, _ = select.select([self.process.stdout], [], [],
                                        max(0.0, deadline - time.monotonic()))
            if ready:
                line = self.process.stdout.readline()
                if line.startswith("hxemu server listening on "):
                    return line.strip()
                if not line:
                    raise RuntimeError(f"the server exited ({self.process.wait()}):\n"
                                       f"{self.log()}")
            elif time.monotonic() >= deadline:
                raise RuntimeError(f"the server did not start within {timeout_s} s:\n"
                                   f"{self.log()}")

    def env(self, **extra: str) -> dict[str, str]:
        return {"QUIGGELDY_ENABLED": "1", "QUIGGELDY_IP": self.host,
                "QUIGGELDY_PORT": str(self.port), **extra}

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; the exit code (killed if it does not stop in time)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop(10.0)
        finally:
            self.kill()
            self._log.close()
            os.unlink(self._log.name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m driver.server",
                                description="Serve one emulated chip over TCP (docs/server.md).")
    add_arguments(p)
    args = p.parse_args(argv)
    return serve(config_from_args(args))


if __name__ == "__main__":
    sys.exit(main())
