"""PlaybackProgramBuilder, Program and tickets (fisch/stadls, docs/low-level.md).

The builder appends numpy arrays of instruction words (never a Python loop per word); a read
records its position in the response queue of its type (omnibus data, JTAG data, loopback
ticks), and its ticket decodes the container once the program has run.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from hwlayer.regmap import instructions as isa

from . import instructions as ins

QUEUES = ("omnibus", "jtag", "loopback")
_HALT = np.array([isa.HALT_WORD], dtype=np.uint64)


class TicketError(RuntimeError):
    """A ticket was read before its program ran (or the run did not deliver its data)."""


class _Home:
    """Where a builder's tickets find their program once `done()` made it."""

    def __init__(self) -> None:
        self.program: Program | None = None


class Ticket:
    """Access to the result of one read; `get()` after the program ran."""

    def __init__(self, home: _Home, coord, container_type, queue: str, pos: int,
                 count: int) -> None:
        self._home = home
        self.coordinate = coord
        self.container_type = container_type
        self.queue = queue
        self.position = pos
        self.count = count

    def valid(self) -> bool:
        prog = self._home.program
        return (prog is not None and prog.result is not None and prog.failure is None
                and len(prog.result.queue(self.queue)) >= self.position + self.count)

    def get(self):
        """The decoded container; TicketError if the program has not run yet."""
        prog = self._home.program
        if prog is not None and prog.failure is not None:
            raise TicketError(f"ticket for {self.container_type.__name__} at {self.coordinate} "
                              f"is not valid: its run failed ({prog.failure})")
        if prog is None or prog.result is None:
            raise TicketError(
                f"ticket for {self.container_type.__name__} at {self.coordinate} is not valid: "
                "its program has not run yet")
        if not self.valid():
            raise TicketError(f"ticket for {self.container_type.__name__} at {self.coordinate}"
                              " is not valid: the run did not deliver its response data")
        payloads = prog.result.queue(self.queue)[self.position:self.position + self.count]
        return self.container_type.from_responses(self.coordinate, payloads)

    def __repr__(self) -> str:
        return (f"Ticket({self.container_type.__name__} at {self.coordinate}, "
                f"{'valid' if self.valid() else 'not yet valid'})")


@dataclass
class RunResult:
    """Responses of one run sorted into queues, plus timing."""

    stream: ins.ResponseStream
    start_cycle: int
    end_cycle: int
    _queues: dict = field(default_factory=dict)

    def queue(self, name: str) -> np.ndarray:
        if name not in self._queues:
            kind = {"omnibus": "omnibus_data", "jtag": "jtag_data", "loopback": "loopback"}[name]
            p = self.stream.of(kind)
            if name == "loopback":
                p = p[p == isa.LOOPBACK_TICK]  # the halt echo is not read data
            self._queues[name] = p
        return self._queues[name]

    @property
    def cycles(self) -> int:
        """Modelled run time in FPGA cycles (125 MHz)."""
        return self.end_cycle - self.start_cycle

    def madc_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """MADC samples of the run: (absolute FPGA cycles, 10-bit values).

        Each sample's 8-bit timestamp counts half FPGA cycles; the last Systime message before
        it anchors it: t = anchor + ((timestamp - 2 anchor) mod 256) / 2.
        """
        h = self.stream.headers
        p = self.stream.payloads.astype(np.int64)
        anchor_msg = h == isa.FROM["systime"]
        sample_msg = h == isa.FROM["madc_sample_pack_1"]
        if (h == isa.FROM["madc_sample_pack_2"]).any() or (
                h == isa.FROM["madc_sample_pack_3"]).any():
            raise NotImplementedError("multi-sample MADC packs are not produced by hxemu")
        idx = np.flatnonzero(anchor_msg)
        last = np.searchsorted(idx, np.flatnonzero(sample_msg), side="right") - 1
        if (last < 0).any():
            raise ValueError("an MADC sample arrived before any Systime anchor")
        anchors = p[idx[last]]
        samples = p[sample_msg]
        stamp = (samples >> 16) & 0xFF
        times = anchors + (((stamp - 2 * anchors) % 256) >> 1)
        return times, samples & 0x3FF

    @property
    def chip_time_s(self) -> float:
        return self.cycles / isa.FPGA_CLOCK_HZ


@dataclass
class Program:
    """A finished program: its instruction words (without the halt) and tickets."""

    words: np.ndarray
    expected: dict[str, int]
    # weak: the tickets reach their program, so a strong list would make a reference cycle,
    # and a large program would stay in memory until the cycle collector runs
    ticket_refs: list[weakref.ref] = field(repr=False)
    result: RunResult | None = None
    failure: str | None = None  # why the last run failed; its tickets are then invalid
    madc_samples: int = 0  # MADC samples its recording is configured for (part of its result)

    def __len__(self) -> int:
        return int(self.words.size)

    @property
    def tickets(self) -> list[Ticket]:
        """The tickets of its reads that are still held."""
        return [t for t in (r() for r in self.ticket_refs) if t is not None]

    def with_halt(self) -> np.ndarray:
        """The words followed by the halt, as a connection runs them: without a copy where the
        words are a view followed by the halt in their buffer (`done()` leaves room for it)."""
        w = self.words
        base = w.base
        if (isinstance(base, np.ndarray) and base.dtype == np.uint64 and base.ndim == 1
                and w.dtype == np.uint64 and w.ndim == 1 and w.strides == (8,)
                and base.strides == (8,)):
            at = (w.ctypes.data - base.ctypes.data) // 8
            end = at + w.size
            if 0 <= at and end < base.size and base[end] == _HALT[0]:
                return base[at:end + 1]
        return np.concatenate([w, _HALT])

    def tickets_valid(self) -> bool:
        return self.result is not None and all(
            len(self.result.queue(q)) == n for q, n in self.expected.items())


class PlaybackProgramBuilder:
    """Collects writes, reads, waits and spikes into one instruction program."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._adopted: np.ndarray | None = None  # handed over by append_words(adopt=True)
        self._size = 0
        self._expected = dict.fromkeys(QUEUES, 0)
        self._tickets: list[Ticket] = []
        self._home = _Home()

    def _append(self, words: np.ndarray) -> None:
        if words.size:
            self._chunks.append(words)
            self._size += words.size

    # -- the haldls-style interface ----------------------------------------------------------

    def write(self, coord, container) -> None:
        """Append the instructions writing `container` at `coord`."""
        if isinstance(container, type) or not hasattr(container, "write_instructions"):
            raise TypeError(f"write() takes a container instance (e.g. Timer()), got "
                            f"{_name(container)}")
        self._append(container.write_instructions(coord))

    def read(self, coord, container_type=None) -> Ticket:
        """Append the instructions reading `coord`; the ticket yields the container."""
        if container_type is None:
            from .containers import default_container

            container_type = default_container(coord)
        elif not (isinstance(container_type, type)
                  and hasattr(container_type, "read_instructions")):
            raise TypeError(f"read() takes a container type (e.g. Timer), got "
                            f"{_name(container_type)}")
        words, queue, count = container_type.read_instructions(coord)
        self._append(words)
        ticket = Ticket(self._home, coord, container_type, queue, self._expected[queue], count)
        self._expected[queue] += count
        self._tickets.append(ticket)
        return ticket

    def block_until(self, coord, condition) -> None:
        """Block until `condition` holds (Timer.Value(n), Barrier.omnibus, polling)."""
        self._append(condition.block_instructions(coord))

    # -- bulk paths ------------------------------------------------------------------------

    def write_omnibus(self, addresses, values, byte_enables=isa.OMNIBUS_BYTE_ENABLES_ALL) -> None:
        """Write many raw omnibus words at once."""
        self._append(ins.omnibus_write(addresses, values, byte_enables))

    def read_omnibus(self, addresses) -> OmnibusTicket:
        """Read many raw omnibus words at once; the ticket yields a uint32 array."""
        words = ins.omnibus_read(addresses)  # refuses what is not an address
        a = np.atleast_1d(np.asarray(addresses))
        self._append(words)
        t = OmnibusTicket(self._home, a, "omnibus", self._expected["omnibus"], a.size)
        self._expected["omnibus"] += a.size
        self._tickets.append(t)
        return t

    def wait_until(self, cycles: int) -> None:
        """Block until the timer reads `cycles` (shorthand for block_until(Timer.Value))."""
        self._append(ins.wait_until(cycles))

    def reset_timer(self) -> None:
        """Zero the timer (shorthand for write(TimerOnDLS(), Timer()))."""
        self._append(ins.encode("timing_setup"))

    def spikes(self, times, labels) -> None:
        """Send spike labels at times (FPGA cycles since the last timer reset).

        Spikes are sorted by time; each distinct time gets one WaitUntil, and up to three
        simultaneous labels share one SpikePack instruction (more spill into later cycles).
        """
        t = np.asarray(times)
        lab = np.asarray(labels)
        if t.shape != lab.shape or t.ndim != 1:
            raise ValueError(f"spike times and labels must be 1-d and of equal length, got "
                             f"shapes {t.shape} and {lab.shape}")
        if t.size == 0:
            return
        if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(lab.dtype, np.integer)):
            raise TypeError("spike times and labels must be integer arrays")
        ins._check_range("spike time", t, 32)
        ins._check_range("spike label", lab, isa.SPIKE_LABEL_BITS)
        self._append(schedule_spikes(t, lab)[0])

    def append_words(self, words: np.ndarray, responses: int = 0,
                     queue: str = "omnibus", *, adopt: bool = False) -> OmnibusTicket | None:
        """Append prepared instruction words that produce `responses` answers of `queue`.

        The bulk path of compilers (e.g. the MAC): the ticket yields the raw response words.
        `adopt`: the caller hands `words` over (and will not change them), so a program made
        of them alone uses them without a copy; a compiler that leaves the halt behind them in
        their buffer (`Program.with_halt`) spares the connection a copy too.
        """
        w = np.atleast_1d(ins.as_words("words", words))
        if isinstance(responses, bool) or not isinstance(responses, int | np.integer) \
                or responses < 0:
            raise TypeError(f"responses must be an int >= 0, got {responses!r}")
        if queue not in QUEUES:
            raise ValueError(f"queue must be one of {QUEUES}, got {queue!r}")
        if adopt:
            self._adopted = w
        self._append(w)
        if not responses:
            return None
        t = OmnibusTicket(self._home, None, queue, self._expected[queue], responses)
        self._expected[queue] += responses
        self._tickets.append(t)
        return t

    # -- composition -------------------------------------------------------------------------

    def merge_back(self, other: PlaybackProgramBuilder) -> None:
        """Append `other`'s instructions; its tickets now refer to this builder's program."""
        if not isinstance(other, PlaybackProgramBuilder):
            raise TypeError(f"merge_back() takes a PlaybackProgramBuilder, got {_name(other)}")
        if other is self:
            raise ValueError("cannot merge a builder into itself")
        for t in other._tickets:
            t.position += self._expected[t.queue]
            t._home = self._home
        for q in QUEUES:
            self._expected[q] += other._expected[q]
        self._tickets.extend(other._tickets)
        self._chunks.extend(other._chunks)
        self._size += other._size
        other._reset()

    def empty(self) -> bool:
        return self._size == 0

    def size_to_fpga(self) -> int:
        return self._size

    def size_from_fpga(self) -> int:
        return sum(self._expected.values())

    def is_write_only(self) -> bool:
        return self.size_from_fpga() == 0

    def done(self) -> Program:
        """The finished program; the builder starts afresh.

        The words are one copy of the appended arrays with room for the halt behind them
        (`Program.with_halt`); a single array appended with `adopt=True` is kept as it is."""
        if len(self._chunks) == 1 and self._chunks[0] is self._adopted:
            words = self._chunks[0]
        else:
            room = np.empty(self._size + 1, dtype=np.uint64)
            if self._chunks:
                np.concatenate(self._chunks, out=room[:-1], casting="unsafe")
            room[-1] = _HALT[0]
            words = room[:-1]
        program = Program(words, dict(self._expected), [weakref.ref(t) for t in self._tickets])
        self._home.program = program
        self._reset()
        return program


def _name(value) -> str:
    return f"the class {value.__name__}" if isinstance(value, type) else \
        f"a {type(value).__qualname__}"


def schedule_spikes(times: np.ndarray, labels: np.ndarray,
                    groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """WaitUntil + SpikePack words for spikes, sorted by (group, time); and each word's group.

    Each distinct (group, time) gets one WaitUntil(time); up to three labels of one time share
    a pack. Groups keep their order (e.g. batch entries, each with its own timer reset).
    """
    t = np.asarray(times, dtype=np.int64)
    lab = np.asarray(labels, dtype=np.int64)
    g = np.zeros(t.size, dtype=np.int64) if groups is None else np.asarray(groups, np.int64)
    if t.size == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    order = np.lexsort((t, g))
    t, lab, g = t[order], lab[order], g[order]
    new_time = np.ones(t.size, dtype=bool)
    new_time[1:] = (t[1:] != t[:-1]) | (g[1:] != g[:-1])
    group_start = np.maximum.accumulate(np.where(new_time, np.arange(t.size), 0))
    rank = np.arange(t.size) - group_start
    new_pack = rank % isa.MAX_SPIKES_PER_PACK == 0
    pack_id = np.cumsum(new_pack) - 1
    n_packs = int(pack_id[-1]) + 1
    sizes = np.bincount(pack_id, minlength=n_packs)
    packed = np.zeros((n_packs, isa.MAX_SPIKES_PER_PACK), dtype=np.int64)
    packed[pack_id, rank % isa.MAX_SPIKES_PER_PACK] = lab
    pack_words = ins.spike_packs(packed, sizes)
    waits = ins.wait_until(t[new_time])
    out = np.empty(n_packs + waits.size, dtype=np.uint64)
    is_wait = np.zeros(out.size, dtype=bool)
    is_wait[np.flatnonzero(new_time[new_pack]) + np.arange(waits.size)] = True
    out[is_wait] = waits
    out[~is_wait] = pack_words
    word_group = np.empty(out.size, dtype=np.int64)
    word_group[is_wait] = g[new_time]
    word_group[~is_wait] = g[new_pack]
    return out, word_group


class OmnibusTicket(Ticket):
    """Ticket of a bulk raw read: `get()` returns the words as a uint32 array."""

    def __init__(self, home: _Home, addresses: np.ndarray, queue: str, pos: int,
                 count: int) -> None:
        super().__init__(home, addresses, _RawWords, queue, pos, count)


class _RawWords:
    @staticmethod
    def from_responses(coord, payloads: np.ndarray) -> np.ndarray:
        return (payloads & np.uint64(0xFFFFFFFF)).astype(np.uint32)
