"""Cocolists: ordered (coordinate, container) lists, the stadls `DumperDone` of hxemu.

A cocolist is configuration as data: the base configuration and calibration results are
cocolists. Entries are register writes (a `Container` at its coordinate) or waits (a
`BlockUntil` condition). `to_program()` compiles them into one write program; runs of the
same register container type are encoded in one vectorised pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np

from .builder import PlaybackProgramBuilder, Program
from .containers import BlockUntil, Container, RegisterContainer


def _coordinate_key(coord) -> tuple:
    return (type(coord).__name__, tuple(
        getattr(coord, f.name) for f in dataclasses.fields(coord)))


class Cocolist:
    """An ordered list of (coordinate, container-or-wait) pairs."""

    def __init__(self, entries: Iterable[tuple] = ()) -> None:
        self.entries: list[tuple] = []
        for coord, item in entries:
            self.append(coord, item)

    def append(self, coord, item) -> None:
        """Add a write (Container) or a wait (BlockUntil) at `coord`."""
        if isinstance(item, Container):
            item._check_coordinate(coord)
            if not item.writable:
                raise TypeError(f"{type(item).__name__} is read-only and cannot be in a "
                                "cocolist")
        elif isinstance(item, BlockUntil):
            if type(coord) is not item.coordinate_type:
                raise TypeError(f"{type(item).__name__} blocks at "
                                f"{item.coordinate_type.__name__}, got {type(coord).__name__}")
        else:
            raise TypeError(f"a cocolist holds containers and waits, got {type(item).__name__}")
        self.entries.append((coord, item))

    def extend(self, other: Cocolist) -> None:
        self.entries.extend(other.entries)

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cocolist) and self.entries == other.entries

    def __repr__(self) -> str:
        return f"Cocolist({len(self.entries)} entries)"

    def remove_block_until(self) -> Cocolist:
        """The same list without its waits."""
        return Cocolist((c, i) for c, i in self.entries if not isinstance(i, BlockUntil))

    def squash(self) -> Cocolist:
        """Writes sorted by coordinate, only the last write per coordinate kept (no waits)."""
        last = {}
        for coord, item in self.entries:
            if isinstance(item, Container):
                last[coord] = item
        return Cocolist(sorted(last.items(), key=lambda e: _coordinate_key(e[0])))

    def apply(self, builder: PlaybackProgramBuilder) -> None:
        """Append the writes and waits, in order, to a builder."""
        i = 0
        n = len(self.entries)
        while i < n:
            coord, item = self.entries[i]
            if isinstance(item, BlockUntil):
                builder.block_until(coord, item)
                i += 1
                continue
            kind = type(item)
            j = i + 1
            if issubclass(kind, RegisterContainer):
                while j < n and type(self.entries[j][1]) is kind:
                    j += 1
            if j - i > 1:
                builder.write_omnibus(*_encode_run(kind, self.entries[i:j]))
            else:
                builder.write(coord, item)
            i = j

    def to_program(self) -> Program:
        b = PlaybackProgramBuilder()
        self.apply(b)
        return b.done()

    def save(self, path, metadata: dict | None = None) -> None:
        """Write a `.pbin` file atomically (`driver.cocolist_file.save_cocolist`)."""
        from .cocolist_file import save_cocolist

        save_cocolist(path, self, metadata)

    @classmethod
    def load(cls, path) -> Cocolist:
        """Read a `.pbin` file; `driver.cocolist_file.load_cocolist` also gives the metadata."""
        from .cocolist_file import load_cocolist

        return load_cocolist(path)[0]


def _encode_run(kind: type, entries: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, words) of many containers of one register type, in one pass."""
    reg = entries[0][0].register
    if not reg.dims or any(c.register is not reg for c, _ in entries):
        pairs = [(kind.addresses(c), it.encode()) for c, it in entries]
        return np.concatenate([a for a, _ in pairs]), np.concatenate([w for _, w in pairs])
    index = {d: np.array([c.index()[d] for c, _ in entries]) for d, _ in reg.dims}
    values = [it.to_dict() for _, it in entries]
    fields = {k: np.array([v[k] for v in values]) for k in reg.layout.field_names}
    words = reg.layout.encode(fields, n=len(entries))
    return reg.addresses(**index).ravel(), words.ravel()
