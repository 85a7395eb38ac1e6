"""driver: the host software that programs the (emulated) chip.

Coordinates and containers (bit-exact encode/decode built from `hwlayer.regmap`), the
`PlaybackProgramBuilder` that turns them into 64-bit FPGA instruction words, tickets, and
connections that run programs (in-process `EmulatorConnection`, `RemoteConnection` to a chip
server, `connection_from_env()`). Public contract: `PlaybackProgramBuilder`,
`EmulatorConnection`, `RemoteConnection`, `connection_from_env`, `coordinates`, `containers`,
`Program.words`, `ticket.get()`.
"""

from hwlayer.regmap.chip_id import check_chip_id, parse_chip_id

from . import containers, coordinates, environment, instructions
from .builder import PlaybackProgramBuilder, Program, Ticket, TicketError
from .connection import EmulatorConnection, PlaybackError, RunInfo
from .environment import remote_enabled
from .remote import RemoteConnection, RemoteError, connection_from_env

__all__ = ["EmulatorConnection", "PlaybackError", "PlaybackProgramBuilder", "Program",
           "RemoteConnection", "RemoteError", "RunInfo", "Ticket", "TicketError", "check_chip_id",
           "connection_from_env", "containers", "coordinates", "environment", "instructions",
           "parse_chip_id", "remote_enabled"]
