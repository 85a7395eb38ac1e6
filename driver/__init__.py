"""driver: the host software that programs the (emulated) chip.

Coordinates and containers (bit-exact encode/decode built from `hwlayer.regmap`), the
`PlaybackProgramBuilder` that turns them into 64-bit FPGA instruction words, tickets, and
connections that run programs. Public contract: `PlaybackProgramBuilder`, `EmulatorConnection`,
`coordinates`, `containers`, `Program.words`, `ticket.get()`.
"""

from . import containers, coordinates, instructions
from .builder import PlaybackProgramBuilder, Program, Ticket, TicketError
from .connection import EmulatorConnection, PlaybackError, RunInfo

__all__ = ["EmulatorConnection", "PlaybackError", "PlaybackProgramBuilder", "Program", "RunInfo",
           "Ticket", "TicketError", "containers", "coordinates", "instructions"]
