"""The published register map of the emulated chip: the "datasheet" both layers build on.

`layouts` gives every register's word layout, `registers` where it lives (addresses as
functions of its index), `instructions` the FPGA's instruction dictionaries. The driver may
import this package; it is the only part of hwlayer besides the emulator entry point it sees.
"""

from . import instructions, layouts, reference
from .layout import Field, Layout, Slice
from .registers import REGISTERS, Register, View

__all__ = ["Field", "Layout", "Slice", "REGISTERS", "Register", "View", "instructions",
           "layouts", "reference"]
