"""The HAGEN base program of the PPU as the host sees it: memory symbols, commands, timing.

On the real chip the symbol addresses come from the linked ELF (docs/register-map.md); the
emulated PPU runs a behavioural model of grenade's base program with these fixed
symbols (hxemu layout, in PPU memory words):

| symbol              | words      | content                                                  |
|---------------------|------------|----------------------------------------------------------|
| `status`            | 0          | command / state (STATUS below)                           |
| `neuron_reset_mask` | 64..127    | one byte per column in the vector layout; byte > 0 resets |
| `cadc_result`       | 128..191   | int8 results in the vector layout                        |
| `cadc_baseline`     | 192..255   | int8 baseline in the vector layout (initially 0)         |

Vector layout (grenade `from_vector_unit_row`): word q, byte e (entry 0 in bits 31..24) holds
column `registers.QUAD_ENTRY_COLUMN[q, e]` (words 0..31 the even, 32..63 the odd columns);
`pack_vector` / `unpack_vector` convert.
"""

from __future__ import annotations

import numpy as np

from . import registers as R
from .layout import QUAD_ENTRY_SHIFT

STATUS_WORD = 0
RESET_MASK_WORD = 64
CADC_RESULT_WORD = 128
CADC_BASELINE_WORD = 192
VECTOR_WORDS = 64
# vector layout: byte shift of entry e in a word (entry 0 in bits 31..24); word q entry e is
# column registers.QUAD_ENTRY_COLUMN[q, e]
VECTOR_ENTRY_SHIFT = QUAD_ENTRY_SHIFT


def pack_vector(values: np.ndarray) -> np.ndarray:
    """Bytes per column (..., 256) -> PPU vector words (..., 64) (vector layout above)."""
    v = np.asarray(values, dtype=np.int64)[..., R.QUAD_ENTRY_COLUMN] & 0xFF
    return (v << VECTOR_ENTRY_SHIFT).sum(axis=-1)


_BYTE_OF_COLUMN = R.COLUMN_QUAD * 4 + R.COLUMN_ENTRY  # entry e of word q is byte 4 q + e


def unpack_vector(words: np.ndarray) -> np.ndarray:
    """PPU vector words (..., 64) -> signed bytes (int8) per column (..., 256)."""
    w = np.asarray(words)
    big_endian = np.ascontiguousarray(w, dtype=">u4")  # entry 0 (bits 31..24) = first byte
    by_entry = big_endian.view(np.int8).reshape(w.shape[:-1] + (R.QUADS * 4,))
    return by_entry[..., _BYTE_OF_COLUMN]

# grenade:include/grenade/vx/ppu/detail/status.h
STATUS = {
    "initial": 0,
    "idle": 1,
    "reset_neurons": 2,
    "baseline_read": 3,
    "read": 4,
    "periodic_read": 5,
    "inside_periodic_read": 6,
    "stop_periodic_read": 7,
    "stop": 8,
    "scheduler": 9,
}

# Durations of the emulated program, in FPGA cycles (125 MHz). The host waits the fixed times
# grenade uses (docs/instruction-set.md), which are longer than these.
COMMAND_LATENCY = 50  # PPU notices a new command (polling loop)
RESET_DURATION = 25  # reset pulse issued to the neurons
BASELINE_SLEEP = 625  # 5 us between the reset and the baseline conversion
CONVERSION_DURATION = 100  # CADC row conversion incl. sense delay, ramp and dead time
HOST_WAIT = {"baseline_read": 2500, "reset_neurons": 500, "read": 1250}
