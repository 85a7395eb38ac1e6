"""The FPGA's UT-message dictionaries (docs/instruction-set.md).

Every to-FPGA message is one 64-bit word: 8-bit header (dictionary index, bit 63 = comma = 0)
in bits 63..56, payload right-aligned. From-FPGA messages are 64 bits, except the 3-packs of
spikes / MADC samples, which are 80 bits; messages are packed MSB-first into 64-bit words and a
partial word is closed by a comma bit (1) directly after the last message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEADER_BITS = 8
WORD_BITS = 64


@dataclass(frozen=True)
class Instruction:
    header: int
    name: str
    payload_bits: int

    @property
    def message_bits(self) -> int:
        """Header + payload rounded up to whole bytes, at least one 64-bit word."""
        raw = HEADER_BITS + self.payload_bits
        return max(WORD_BITS, -(-raw // 8) * 8)


TO_FPGA = (
    Instruction(0, "jtag_init", 0),
    Instruction(1, "jtag_scaler", 8),
    Instruction(2, "jtag_ins", 7),
    Instruction(3, "jtag_data", 56),
    Instruction(4, "timing_setup", 0),
    Instruction(5, "timing_wait_until", 32),
    Instruction(6, "timing_systime_init", 1),
    Instruction(7, "timing_barrier", 5),
    Instruction(8, "timing_polling_omnibus_block", 1),
    Instruction(9, "system_reset", 1),
    Instruction(10, "system_loopback", 1),
    Instruction(11, "omnibus_address", 37),
    Instruction(12, "omnibus_data", 32),
    Instruction(13, "spike_pack_1", 16),
    Instruction(14, "spike_pack_2", 32),
    Instruction(15, "spike_pack_3", 48),
)

FROM_FPGA = (
    Instruction(0, "jtag_data", 33),
    Instruction(1, "omnibus_data", 32),
    Instruction(2, "loopback", 1),
    Instruction(3, "highspeed_link_notification", 8),
    Instruction(4, "timeout_notification", 45),
    Instruction(5, "systime", 43),
    Instruction(6, "sysdelta", 8),
    Instruction(7, "madc_sample_pack_1", 24),
    Instruction(8, "madc_sample_pack_2", 48),
    Instruction(9, "madc_sample_pack_3", 72),
    Instruction(10, "spike_pack_1", 24),
    Instruction(11, "spike_pack_2", 48),
    Instruction(12, "spike_pack_3", 72),
)

TO = {i.name: i.header for i in TO_FPGA}
FROM = {i.name: i.header for i in FROM_FPGA}

# to-FPGA payload fields
LOOPBACK_HALT = 0
LOOPBACK_TICK = 1
OMNIBUS_IS_READ_BIT = 36
OMNIBUS_BYTE_ENABLES_SHIFT = 32
OMNIBUS_BYTE_ENABLES_ALL = 0xF
JTAG_DATA_NUM_BITS_SHIFT = 40
JTAG_DATA_KEEP_RESPONSE_BIT = 48
JTAG_DATA_MAX_BITS = 33
BARRIER = {"omnibus": 0b00001, "jtag": 0b00010, "systime": 0b00100, "multi_fpga": 0b01000,
           "systime_correction": 0b10000}
JTAG_INSTRUCTIONS = {"EXTEST": 0, "IDCODE": 1, "SAMPLE_PRELOAD": 2, "PLL_TARGET_REG": 3,
                     "SHIFT_PLL": 4, "OMNIBUS_ADDRESS": 5, "OMNIBUS_DATA": 6,
                     "OMNIBUS_REQUEST": 7, "BYPASS": 127}
SPIKE_LABEL_BITS = 16
# Spike label layout (docs/instruction-set.md): bits 15..14 select the crossbar input (SPL1
# channel), 13..0 are the neuron label the crossbar matches; of those, bits 10..6 are the row
# select the synapse drivers compare and bits 5..0 the synapse address (bit 5: the address
# msb, which selects the synapse row of a driver in HAGEN mode).
LABEL_SPL1_SHIFT = 14
LABEL_NEURON_MASK = 0x3FFF
LABEL_ROW_SELECT_SHIFT = 6
LABEL_ROW_SELECT_MASK = 0x1F
LABEL_ADDRESS_MASK = 0x3F
# HAGEN mode: address bits 4..0 carry the activation a (1..31) as HAGEN_ACTIVATION_CODE - a
HAGEN_ACTIVATION_CODE = 32
HAGEN_ACTIVATION_MASK = 0x1F


def spike_label(spl1, row_select, address):
    """The 16-bit spike label of (crossbar input, row select, synapse address); vectorised."""
    return ((np.asarray(spl1) << LABEL_SPL1_SHIFT)
            | (np.asarray(row_select) << LABEL_ROW_SELECT_SHIFT) | np.asarray(address))
MAX_SPIKES_PER_PACK = 3

# from-FPGA payload fields
TIMEOUT_INDEX_BITS = 32
EVENT_SAMPLE_BITS = 24  # per spike / MADC sample: bits 15..0 value, 23..16 8-bit timestamp
SYSTIME_BITS = 43

HALT_WORD = TO["system_loopback"] << 56 | LOOPBACK_HALT
TICK_WORD = TO["system_loopback"] << 56 | LOOPBACK_TICK

# JTAG IDCODE of the emulated chip: version 3 (HICANN-X v3), part 0x4858 ("HX"), hxemu maker id.
JTAG_IDCODE = (3 << 28) | (0x4858 << 12) | (0x064 << 1) | 1

# FPGA clock (timer and WaitUntil units).
FPGA_CLOCK_HZ = 125_000_000
