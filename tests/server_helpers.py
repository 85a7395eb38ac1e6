"""Helpers for the server tests: the exact MAC formula, MAC programs as raw words, raw frames."""

from __future__ import annotations

import json
import socket

import numpy as np

from driver import EmulatorConnection
from driver import protocol as P
from driver.base_config import hagen_base_configuration
from driver.mac import MAC
from hwlayer.regmap import instructions as isa

HALT = np.array([isa.HALT_WORD], dtype=np.uint64)


def exact(x: np.ndarray, w: np.ndarray, num_sends: int = 1) -> np.ndarray:
    """clamp(sum over 128-row chunks of clamp(floor(ns * x_c @ W_c / 500)), -128, 127)."""
    total = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    for i in range(0, w.shape[0], 128):
        s = num_sends * (x[:, i:i + 128].astype(np.int64) @ w[i:i + 128].astype(np.int64))
        total += np.clip(np.floor_divide(s, 500), -128, 127)
    return np.clip(total, -128, 127)


class _Capture:
    """A connection stand-in that keeps the words of the program a MAC builds."""

    def __init__(self, conn: EmulatorConnection) -> None:
        self.conn, self.shadow = conn, conn.shadow
        self.words = None

    def run(self, program):
        self.words = program.words.copy()
        return self.conn.run(program)


def mac_program(batch: int, weight: int = 21, activation: int = 10) -> np.ndarray:
    """Words (without the halt) of a complete MAC program (base configuration included) of
    `batch` entries on 128 x 256: a program that takes the chip a while."""
    conn = EmulatorConnection("ideal")
    base = hagen_base_configuration().to_program()
    conn.run(base)  # the MAC refuses a chip its connection does not know to be configured
    cap = _Capture(conn)
    MAC(np.full((128, 256), weight)).run(np.full((batch, 128), activation), cap)
    return np.concatenate([base.words, cap.words])


class RawClient:
    """Frames by hand, for the fault tests."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hello(self, user: str, token: str | None = None) -> dict:
        self.send(P.json_frame(P.FrameType.HELLO, {"user": user, "token": token}))
        ftype, _, payload = self.recv()
        assert ftype == P.FrameType.WELCOME, (ftype, payload)
        return json.loads(payload)

    def program(self, words: np.ndarray, seq: int) -> None:
        body = P.program_payload(words)
        self.send(P.header(P.FrameType.PROGRAM, body.nbytes, seq) + bytes(body))

    def _exact(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def recv(self):
        """(type, seq, payload), or None at the end of the stream."""
        head = self._exact(P.HEADER_SIZE)
        if head is None:
            return None
        ftype, seq, length = P.parse_header(head)
        payload = self._exact(length) if length else b""
        return ftype, seq, payload

    def recv_error(self) -> tuple[int, str]:
        frame = self.recv()
        assert frame is not None and frame[0] == P.FrameType.ERROR, frame
        return P.parse_error(frame[2])

    def closed(self) -> bool:
        """True if the server closed the connection (EOF or reset)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()
