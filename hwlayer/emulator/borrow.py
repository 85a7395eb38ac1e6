"""`borrow`: arrays (also inside named tuples) as views without reference counting.

numba counts references to every array it passes to a function or copies into a variable,
with an atomic increment and decrement each (about 8 ns together on this kind of CPU). The
executor hands the analog state (35 arrays) and the machine (17) through the per-entry
machinery of a program (PPU commands, conversions, resets, flushes) dozens of times per MAC
entry, and the counting took about half of its time. The caller of `executor.execute` keeps
every array alive for the whole call, so inside it the arrays can be borrowed: the same data,
shape and strides with no owner (a null meminfo), for which numba's reference counting is a
no-op. Only for use on arguments of the outermost jitted function, never on arrays it
allocates itself.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _borrowed(context, builder, ty, value):
    if isinstance(ty, types.Array):
        src = context.make_array(ty)(context, builder, value=value)
        out = context.make_array(ty)(context, builder)
        out.meminfo = cgutils.get_null_value(out.meminfo.type)
        out.parent = cgutils.get_null_value(out.parent.type)
        out.nitems = src.nitems
        out.itemsize = src.itemsize
        out.data = src.data
        out.shape = src.shape
        out.strides = src.strides
        return out._getvalue()
    if isinstance(ty, types.BaseTuple):
        out = value
        for k, member in enumerate(ty.types):
            item = builder.extract_value(value, k)
            out = builder.insert_value(out, _borrowed(context, builder, member, item), k)
        return out
    context.nrt.incref(builder, ty, value)  # anything else stays an owned (new) reference
    return value


@intrinsic
def borrow(typingctx, obj):
    """`obj` (an array, or a tuple or named tuple holding arrays) with every array borrowed."""
    def codegen(context, builder, signature, args):
        return _borrowed(context, builder, obj, args[0])
    return obj(obj), codegen
