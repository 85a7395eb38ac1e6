"""Instruction codec for both FPGA dictionaries (docs/instruction-set.md): numpy uint64 words.

Encoders build whole arrays at once (the builder's bulk paths); `decode_to_fpga` splits words
into headers and payloads; `ResponseStream` parses the FPGA-to-host bit stream, including the
80-bit 3-packs that straddle words and the comma padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from hwlayer.regmap import instructions as isa

U64 = np.uint64
_PAYLOAD_MASK = np.array(
    [(1 << i.payload_bits) - 1 for i in isa.TO_FPGA], dtype=np.uint64
)


class InstructionError(ValueError):
    """A word or field that is not a valid instruction."""


def _word(header: int, payload: int | np.ndarray) -> np.ndarray:
    return (np.uint64(header) << U64(56)) | np.asarray(payload, dtype=np.uint64)


def _check_range(name: str, v, bits: int) -> np.ndarray:
    """`v` as uint64 if every value is an integer in 0..2**bits - 1.

    TypeError for what is not a number (bools, strings, objects), InstructionError (a
    ValueError) for NaN, non-integral floats and values out of range; both name the argument
    and show the value as given (never after a cast)."""
    a = np.atleast_1d(np.asarray(v))
    if a.dtype == bool or a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be integers, got {_show(v)} (dtype {a.dtype})")
    if a.size == 0:
        return a.astype(np.uint64)
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a != np.floor(a))
        if bad.any():
            raise InstructionError(f"{name} must be integers, got {a[bad].ravel()[0].item()!r}")
    top = (1 << bits) - 1
    lo, hi = a.min(), a.max()
    if lo < 0 or hi > top:
        out = (a < 0) | (a > top) if a.dtype.kind != "f" else (a < 0) | (a > float(top))
        raise InstructionError(f"{name} = {a[out].ravel()[0].item()!r} is out of range 0..{top}")
    return a.astype(np.uint64)


def as_words(name: str, words) -> np.ndarray:
    """Instruction words as uint64 (integers in 0..2**64 - 1; nothing is cast silently)."""
    a = np.asarray(words)
    if a.dtype == np.uint64:
        return a
    return _check_range(name, a, 64)


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# --- to-FPGA encoders (all return uint64 arrays) ---------------------------------------------

def encode(name: str, payload: int | np.ndarray = 0) -> np.ndarray:
    """Words of instruction `name` (hwlayer.regmap.instructions.TO) with the given payload(s)."""
    try:
        ins = isa.TO_FPGA[isa.TO[name]]
    except KeyError:
        raise InstructionError(f"unknown to-FPGA instruction '{name}'") from None
    p = _check_range(f"{name} payload", payload, ins.payload_bits) if ins.payload_bits else 0
    return np.atleast_1d(_word(ins.header, p))


def omnibus_write(addresses, values, byte_enables=isa.OMNIBUS_BYTE_ENABLES_ALL) -> np.ndarray:
    """Address/Data word pairs writing values to addresses, interleaved (2n words)."""
    a = _check_range("addresses", addresses, 32)
    v = _check_range("values", values, 32)
    be = _check_range("byte_enables", byte_enables, 4)
    a, v, be = np.broadcast_arrays(a, v, be)
    out = np.empty(2 * a.size, dtype=np.uint64)
    out[0::2] = _word(isa.TO["omnibus_address"],
                      (be.ravel() << U64(isa.OMNIBUS_BYTE_ENABLES_SHIFT)) | a.ravel())
    out[1::2] = _word(isa.TO["omnibus_data"], v.ravel())
    return out


def omnibus_read(addresses) -> np.ndarray:
    """Address words with is_read set (one response each)."""
    a = _check_range("addresses", addresses, 32)
    return _word(
        isa.TO["omnibus_address"],
        (U64(1) << U64(isa.OMNIBUS_IS_READ_BIT))
        | (U64(isa.OMNIBUS_BYTE_ENABLES_ALL) << U64(isa.OMNIBUS_BYTE_ENABLES_SHIFT))
        | a.ravel(),
    )


def wait_until(cycles) -> np.ndarray:
    """WaitUntil words: block until the timer reads `cycles` (32 bits of FPGA cycles)."""
    c = _check_range("cycles", cycles, isa.TO_FPGA[isa.TO["timing_wait_until"]]
                     .payload_bits)
    return _word(isa.TO["timing_wait_until"], c)


def spike_packs(labels: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Spike-pack words: `labels` (n, 3) with the first `sizes[i]` labels of row i used."""
    lab = _check_range("spike label", labels, isa.SPIKE_LABEL_BITS)
    sizes = np.asarray(sizes, dtype=np.int64)
    payload = np.zeros(len(sizes), dtype=np.uint64)
    for k in range(isa.MAX_SPIKES_PER_PACK):
        use = sizes > k
        # spike 0 in the most significant slot
        shift = (sizes[use] - 1 - k) * isa.SPIKE_LABEL_BITS
        payload[use] |= lab[use, k] << shift.astype(np.uint64)
    headers = isa.TO["spike_pack_1"] - 1 + sizes
    return (headers.astype(np.uint64) << U64(56)) | payload


def jtag_data(value: int, num_bits: int, keep_response: bool) -> np.ndarray:
    if not 3 <= num_bits <= isa.JTAG_DATA_MAX_BITS:
        raise InstructionError(f"JTAG num_bits = {num_bits} is out of range 3..33")
    _check_range("JTAG data", value, num_bits)
    return encode(
        "jtag_data",
        (int(keep_response) << isa.JTAG_DATA_KEEP_RESPONSE_BIT)
        | (num_bits << isa.JTAG_DATA_NUM_BITS_SHIFT) | int(value),
    )


# --- to-FPGA decoding ---------------------------------------------------------------------------

def decode_to_fpga(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(headers, payloads) of to-FPGA words; InstructionError names the first invalid word."""
    w = np.asarray(words, dtype=np.uint64)
    headers = (w >> U64(56)).astype(np.int64)
    bad = headers >= len(isa.TO_FPGA)
    if bad.any():
        i = int(np.argmax(bad))
        raise InstructionError(f"unknown instruction header {headers[i]} at index {i} "
                               f"(word 0x{int(w[i]):016x})")
    payloads = w & ((U64(1) << U64(56)) - U64(1))
    extra = payloads & ~_PAYLOAD_MASK[headers]
    if extra.any():
        i = int(np.argmax(extra != 0))
        raise InstructionError(f"payload bits beyond the {isa.TO_FPGA[headers[i]].name} "
                               f"payload at index {i} (word 0x{int(w[i]):016x})")
    return headers, payloads


def describe_to_fpga(word: int) -> str:
    """One instruction word as text, e.g. 'omnibus_address(0x...)'."""
    (h,), (p,) = decode_to_fpga(np.array([word], dtype=np.uint64))
    ins = isa.TO_FPGA[h]
    return f"{ins.name}(0x{int(p):x})" if ins.payload_bits else f"{ins.name}()"


# --- from-FPGA stream ----------------------------------------------------------------------------

@dataclass
class ResponseStream:
    """The FPGA-to-host messages of one run, in order: header and payload per message.

    Payloads of 80-bit messages (72-bit payloads) do not fit 64 bits, so they are kept as
    Python ints in `wide`; `payloads` holds the low 64 bits of every message.
    """

    headers: np.ndarray
    payloads: np.ndarray
    wide: dict[int, int]
    # per header: messages, index of the first and of the last, where the decoder counted them
    counts: np.ndarray | None = None

    def of(self, name: str) -> np.ndarray:
        """Payloads of all messages of type `name` (from-FPGA dictionary), in order."""
        h = isa.FROM[name]
        if self.counts is not None:
            n, first, last = (int(v) for v in self.counts[h])
            if n == 0 or last - first + 1 == n:  # none, or one block (e.g. all reads)
                return self.payloads[first:first + n]
        return self.payloads[self.headers == h]

    def positions(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.headers == isa.FROM[name])

    def __len__(self) -> int:
        return len(self.headers)


def decode_from_fpga(words: np.ndarray) -> ResponseStream:
    """Parse a from-FPGA word stream (hxcomm decoder rules, docs/instruction-set.md).

    Fast path (one compiled pass): when no message is wider than 64 bits and no word holds a
    comma, every word holds exactly one message.
    """
    w = np.ascontiguousarray(words, dtype=np.uint64)
    headers, payloads, counts, one_per_word, unknown = _split_words(w, _WIDE_HEADER)
    if not one_per_word:
        return _decode_bitstream(w)
    if unknown >= 0:
        raise InstructionError(
            f"Unknown UT message header {headers[unknown]} at response word {unknown}")
    return ResponseStream(headers, payloads, {}, counts)


N_FROM_FPGA = len(isa.FROM_FPGA)
# 1 for the headers of messages wider than 64 bits (and for every byte that is no header)
_WIDE_HEADER = np.array([int(h >= len(isa.FROM_FPGA) or isa.FROM_FPGA[h].message_bits > 64)
                         for h in range(256)], dtype=np.int8)


@njit(cache=True, nogil=True)
def _split_words(w, wide_header):
    """(headers, payloads, per header the messages and the indices of the first and the last,
    whether every word is one message, the first word with an unknown header or -1) of words
    that hold no comma and no wide message."""
    headers = np.empty(w.size, dtype=np.int64)
    payloads = np.empty(w.size, dtype=np.uint64)
    counts = np.zeros((128, 3), dtype=np.int64)  # messages, first and last index per header
    unknown = -1
    for i in range(w.size):
        h = np.int64(w[i] >> np.uint64(56))
        if h >= 128:  # a comma
            return headers, payloads, counts, False, -1
        if wide_header[h]:
            if h < N_FROM_FPGA:
                return headers, payloads, counts, False, -1
            if unknown < 0:
                unknown = i
        headers[i] = h
        if counts[h, 0] == 0:
            counts[h, 1] = i
        counts[h, 0] += 1
        counts[h, 2] = i
        payloads[i] = w[i] & np.uint64(0x00FFFFFFFFFFFFFF)
    return headers, payloads, counts, True, unknown


def _decode_bitstream(w: np.ndarray) -> ResponseStream:
    bitstream = 0
    nbits = 0
    hs, ps, wide = [], [], {}
    for word in w.tolist():
        if nbits == 0 and word >> 63:
            continue  # a whole word that starts with a comma
        bitstream = (bitstream << 64) | word
        nbits += 64
        while nbits >= 8:
            if (bitstream >> (nbits - 1)) & 1:  # comma: discard the rest of this word
                bitstream, nbits = 0, 0
                break
            h = (bitstream >> (nbits - 8)) & 0xFF
            if h >= len(isa.FROM_FPGA):
                raise InstructionError(f"Unknown UT message header {h} in the response stream")
            size = isa.FROM_FPGA[h].message_bits
            if nbits < size:
                break
            msg = (bitstream >> (nbits - size)) & ((1 << size) - 1)
            payload = msg & ((1 << isa.FROM_FPGA[h].payload_bits) - 1)
            nbits -= size
            bitstream &= (1 << nbits) - 1
            if size > 64:
                wide[len(hs)] = payload
            hs.append(h)
            ps.append(payload & ((1 << 64) - 1))
    return ResponseStream(np.array(hs, dtype=np.int64), np.array(ps, dtype=np.uint64), wide)


def encode_from_fpga(messages: list[tuple[str, int]]) -> np.ndarray:
    """Pack (name, payload) from-FPGA messages MSB-first into words, comma-padding the last one.

    The reference encoder for tests and for servers relaying messages; the emulator writes its
    (64-bit) messages directly.
    """
    bitstream, nbits, out = 0, 0, []
    for name, payload in messages:
        ins = isa.FROM_FPGA[isa.FROM[name]]
        if not 0 <= payload < (1 << ins.payload_bits):
            raise InstructionError(f"{name} payload out of range")
        size = ins.message_bits
        bitstream = (bitstream << size) | (ins.header << (size - 8)) | payload
        nbits += size
        while nbits >= 64:
            out.append(bitstream >> (nbits - 64))
            nbits -= 64
            bitstream &= (1 << nbits) - 1
    if nbits:
        pad = 64 - nbits
        out.append((bitstream << pad) | (1 << (pad - 1)))
    return np.array(out, dtype=np.uint64)
