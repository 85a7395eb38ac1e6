"""What a user (or `hxemu info`) wants to know about a chip and its register map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwlayer.regmap import REGISTERS
from hwlayer.regmap import instructions as isa

from .builder import PlaybackProgramBuilder
from .containers import FPGADeviceDNA, JTAGIdCode, Timer
from .coordinates import FPGADeviceDNAOnFPGA, JTAGIdCodeOnDLS, TimerOnDLS


@dataclass(frozen=True)
class RegisterRegion:
    """One register type: how many instances, words each, address span, access."""

    name: str
    instances: int
    words: int
    first_address: int
    last_address: int
    access: str


def register_regions() -> list[RegisterRegion]:
    """Every register type of the published register map, in address order."""
    out = []
    for reg in REGISTERS.values():
        a = reg.all_addresses()
        out.append(RegisterRegion(reg.name, a.shape[0], reg.layout.n_words, int(a.min()),
                                  int(a.max()), reg.access))
    return sorted(out, key=lambda r: r.first_address)


def chip_identity(connection) -> dict[str, int]:
    """Read the JTAG IDCODE, the FPGA device DNA and the FPGA timer through a program."""
    b = PlaybackProgramBuilder()
    idcode = b.read(JTAGIdCodeOnDLS(), JTAGIdCode)
    dna = b.read(FPGADeviceDNAOnFPGA(), FPGADeviceDNA)
    timer = b.read(TimerOnDLS(), Timer)
    info = connection.run(b.done())
    return {
        "jtag_idcode": int(idcode.get().value),
        "fpga_device_dna": int(dna.get().value),
        "fpga_time_cycles": int(np.int64(info.end_cycle)),
        "timer": int(timer.get().value),
        "fpga_clock_hz": isa.FPGA_CLOCK_HZ,
    }
