"""The hxemu server protocol: binary frames over TCP (docs/server.md).

Every frame is a 16-byte header followed by `length` payload bytes, all little-endian:

    offset  size  field
    0       4     magic b"HXEM"
    4       2     protocol version (PROTOCOL_VERSION)
    6       1     frame type (FrameType)
    7       1     flags (0; reserved)
    8       4     sequence number (the client's number of a program; echoed in its answer)
    12      4     payload length in bytes

The header layout is the same in every protocol version, so an endpoint can always read a
frame of another version far enough to answer it with an error frame.

Payloads:
- HELLO (client -> server): UTF-8 JSON {"user": str, "token": str | null, "client": str}.
- WELCOME (server -> client): UTF-8 JSON {"chip_id", "model_version", "identifier", "session",
  "user", "max_frame_bytes", "max_queue", "max_result_bytes", "protocol", "server"}.
- PROGRAM (client -> server): the program's uint64 instruction words, without the halt; the
  server appends the halt. 8 * n bytes.
- RESULT (server -> client): start cycle (u64), end cycle (u64), then the response words
  (uint64) including the halt echo.
- ERROR (server -> client): error code (u16, ErrorCode) then a UTF-8 message. For a program's
  error the sequence number is the program's; otherwise 0.
"""

from __future__ import annotations

import enum
import json
import struct

import numpy as np

from . import jsonlimits

MAGIC = b"HXEM"
PROTOCOL_VERSION = 1
HEADER = struct.Struct("<4sHBBII")
HEADER_SIZE = HEADER.size  # 16
RESULT_HEAD = struct.Struct("<QQ")
ERROR_HEAD = struct.Struct("<H")
DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_QUEUE = 32
DEFAULT_MAX_RESULT_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_HELLO_BYTES = 64 * 1024
DEFAULT_MAX_JSON_DEPTH = jsonlimits.DEFAULT_MAX_DEPTH
# the client's caps on what it accepts: a hello-sized WELCOME or ERROR; a RESULT as large as
# the server's announced maximum (this default before the welcome, or from an older server)
MAX_CONTROL_FRAME_BYTES = 64 * 1024


class FrameType(enum.IntEnum):
    HELLO = 1
    WELCOME = 2
    PROGRAM = 3
    RESULT = 4
    ERROR = 5


class ErrorCode(enum.IntEnum):
    """What an error frame reports; the `closes` ones end the connection."""

    MALFORMED = 1  # bad magic, bad payload, unknown frame type: closes
    VERSION = 2  # unsupported protocol version: closes
    AUTH = 3  # missing or wrong token: closes
    TOO_LARGE = 4  # frame larger than the server's maximum: closes
    PROTOCOL = 5  # a frame out of order (program before hello, second hello): closes
    TRUNCATED = 6  # the connection ended or stalled inside a frame: closes
    QUEUE_FULL = 7  # this user has max_queue programs outstanding: the program is refused
    PROGRAM_FAILED = 8  # the chip could not run the program (e.g. no halt echo): per program
    SHUTTING_DOWN = 9  # the server stops: queued programs are refused, then it closes
    BUSY = 10  # too many connections (in total or from this address): closes

    @property
    def closes(self) -> bool:
        return self not in (ErrorCode.QUEUE_FULL, ErrorCode.PROGRAM_FAILED)


class ProtocolError(Exception):
    """A frame that breaks the protocol; `code` is the error frame's code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def header(frame_type: int, length: int, seq: int = 0,
           version: int = PROTOCOL_VERSION) -> bytes:
    return HEADER.pack(MAGIC, version, int(frame_type), 0, seq & 0xFFFFFFFF, length)


def parse_header(data: bytes, max_frame_bytes: int | None = None) -> tuple[FrameType, int, int]:
    """(type, seq, length) of a header; ProtocolError for a bad magic, version, type or size."""
    magic, version, ftype, _flags, seq, length = HEADER.unpack(data)
    if magic != MAGIC:
        raise ProtocolError(ErrorCode.MALFORMED,
                            f"not an hxemu frame (magic {magic!r}, expected {MAGIC!r})")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(ErrorCode.VERSION,
                            f"protocol version {version} is not supported (this end speaks "
                            f"version {PROTOCOL_VERSION})")
    try:
        ftype = FrameType(ftype)
    except ValueError:
        raise ProtocolError(ErrorCode.MALFORMED, f"unknown frame type {ftype}") from None
    if max_frame_bytes is not None and length > max_frame_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"frame of {length} bytes exceeds the maximum of {max_frame_bytes} "
                            "bytes")
    return ftype, seq, length


def json_frame(frame_type: FrameType, obj: dict, seq: int = 0) -> bytes:
    payload = json.dumps(obj, sort_keys=True).encode()
    return header(frame_type, len(payload), seq) + payload


def parse_json(payload: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> dict:
    """A JSON object payload; ProtocolError(MALFORMED) for anything else, including nesting
    deeper than `max_depth`."""
    try:
        obj = jsonlimits.loads(payload, max_depth)
    except jsonlimits.JSONDepthError as e:
        raise ProtocolError(ErrorCode.MALFORMED, f"payload refused: {e}") from None
    except ValueError as e:  # not UTF-8, not JSON
        raise ProtocolError(ErrorCode.MALFORMED, f"payload is not UTF-8 JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "payload is not a JSON object")
    return obj


def program_payload(words: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(words, dtype="<u8")).cast("B")


def parse_program(payload: bytes) -> np.ndarray:
    if len(payload) % 8:
        raise ProtocolError(ErrorCode.MALFORMED,
                            f"program payload of {len(payload)} bytes is not a whole number of "
                            "64-bit words")
    return np.frombuffer(payload, dtype="<u8").astype(np.uint64, copy=False)


def result_frame(seq: int, responses: np.ndarray, start: int, end: int) -> list:
    """Header + payload pieces of a RESULT frame (the words are not copied)."""
    body = program_payload(responses)
    head = RESULT_HEAD.pack(start, end)
    return [header(FrameType.RESULT, len(head) + body.nbytes, seq), head, body]


def result_bytes(response_words: int) -> int:
    """The payload size of a RESULT frame with `response_words` words (the halt echo included);
    what the server's `max_result_bytes` bounds."""
    return RESULT_HEAD.size + 8 * response_words


def parse_result(payload: bytes) -> tuple[np.ndarray, int, int]:
    if len(payload) < RESULT_HEAD.size or (len(payload) - RESULT_HEAD.size) % 8:
        raise ProtocolError(ErrorCode.MALFORMED, f"result payload of {len(payload)} bytes")
    start, end = RESULT_HEAD.unpack_from(payload)
    words = np.frombuffer(payload, dtype="<u8", offset=RESULT_HEAD.size).astype(np.uint64,
                                                                              copy=False)
    return words, start, end


def error_frame(code: ErrorCode, message: str, seq: int = 0) -> bytes:
    payload = ERROR_HEAD.pack(int(code)) + message.encode()
    return header(FrameType.ERROR, len(payload), seq) + payload


def parse_error(payload: bytes) -> tuple[int, str]:
    if len(payload) < ERROR_HEAD.size:
        return int(ErrorCode.MALFORMED), "empty error frame"
    (code,) = ERROR_HEAD.unpack_from(payload)
    return code, payload[ERROR_HEAD.size:].decode("utf-8", errors="replace")
