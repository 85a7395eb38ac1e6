"""Connections: where programs run. `EmulatorConnection` embeds the emulated chip in-process.

The seam is the real one (docs/instruction-set.md): instruction words in, FPGA-to-host
words out. `run()` appends the halt, executes, sorts the responses into the ticket queues and
raises `PlaybackError` if the FPGA reported a failed access. Every program that ran also
updates the connection's `shadow`, the `ChipImage` of what the host knows the chip holds
(docs/state-model.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hwlayer.emulator import MODEL_VERSION, Chip, ProgramError
from hwlayer.regmap import instructions as isa

from . import instructions as ins
from .builder import Program, RunResult
from .chip_image import ChipImage


class PlaybackError(RuntimeError):
    """The FPGA reported a failed instruction, or a program could not run."""


@dataclass(frozen=True)
class RunInfo:
    """Timing of one run: modelled chip time and host wall-clock phases."""

    start_cycle: int
    end_cycle: int
    execute_s: float
    decode_s: float

    @property
    def cycles(self) -> int:
        return self.end_cycle - self.start_cycle

    @property
    def chip_time_s(self) -> float:
        return self.cycles / isa.FPGA_CLOCK_HZ


def describe_failure(words: np.ndarray, index: int) -> str:
    """Text for a timed-out instruction: its index and, for omnibus accesses, the address."""
    if not 0 <= index < words.size:
        return f"instruction {index}"
    h, p = int(words[index] >> np.uint64(56)), int(words[index] & np.uint64((1 << 56) - 1))
    if h == isa.TO["omnibus_address"]:
        kind = "read of" if (p >> isa.OMNIBUS_IS_READ_BIT) & 1 else "write to"
        return f"instruction {index} (omnibus {kind} address 0x{p & 0xFFFFFFFF:08x})"
    return f"instruction {index} ({ins.describe_to_fpga(int(words[index]))})"


class Connection:
    """What every connection shares: `run(program)` on top of the message-level seam
    `execute_words(words) -> (responses, start_cycle, end_cycle)` of the subclass."""

    def run(self, program: Program) -> RunInfo:
        """Run a program (the halt is appended); its tickets become valid."""
        if not isinstance(program, Program):
            raise TypeError(f"run() takes a Program from PlaybackProgramBuilder.done(), "
                            f"got {type(program).__name__}")
        words = program.with_halt()
        t0 = time.perf_counter()
        responses, start, end = self.execute_words(words)
        t1 = time.perf_counter()
        return _attach(program, words, responses, start, end, t1 - t0, t0)

    def execute_words(self, words: np.ndarray) -> tuple[np.ndarray, int, int]:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class EmulatorConnection(Connection):
    """An in-process emulated chip (`chip_id` int or "ideal"); state persists across runs.

    `analog_path` selects the emulator's event loop: "fast" (default) or "reference" (the
    original loop, for checks); None reads $HXEMU_ANALOG_PATH (docs/performance.md).
    """

    def __init__(self, chip_id: int | str = 0, *, seed: int | None = None,
                 analog_path: str | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                                 or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self._chip = Chip(chip_id, seed=seed, analog_path=analog_path)
        self._closed = False
        self.shadow = ChipImage()  # what the host knows this chip holds

    @property
    def chip_id(self) -> int | str:
        return self._chip.chip_id

    @property
    def model_version(self) -> int:
        """Version of the emulator's analog model (calibrations are specific to it)."""
        return MODEL_VERSION

    def get_unique_identifier(self) -> str:
        return f"hxemu-chip-{self.chip_id}"

    def close(self) -> None:
        self._closed = True

    def execute_words(self, words: np.ndarray, *, max_madc_samples: int | None = None
                      ) -> tuple[np.ndarray, int, int]:
        """Message-level run: to-FPGA words ending with the halt -> (responses, start, end).

        `max_madc_samples`: refuse a program whose MADC recording may exceed it (the chip
        server bounds its results so)."""
        if self._closed:
            raise PlaybackError("the connection is closed")
        shadow = self.shadow  # None: not kept (the chip server keeps its own images)
        try:  # the image follows on the helper thread while the program runs
            r = self._chip.execute(words, max_madc_samples=max_madc_samples, alongside=None
                                   if shadow is None else lambda: shadow.update(words))
        except ProgramError as e:
            raise PlaybackError(str(e)) from e
        return r.responses, r.start_cycle, r.end_cycle



def _attach(program: Program, words: np.ndarray, responses: np.ndarray, start: int, end: int,
            execute_s: float, t0: float) -> RunInfo:
    """Decode responses into the program's queues; raise on timeouts or missing data."""
    stream = ins.decode_from_fpga(responses)
    program.result = RunResult(stream, start, end)
    program.failure = None
    timeouts = stream.of("timeout_notification")
    if timeouts.size:
        idx = (timeouts & np.uint64(0xFFFFFFFF)).astype(np.int64)
        more = f" (and {idx.size - 1} more)" if idx.size > 1 else ""
        program.failure = (
            f"the FPGA sent a timeout notification for {describe_failure(words, int(idx[0]))}"
            f"{more}: unmapped address, wrong access direction, chip in reset or a block that "
            "never ended")
        raise PlaybackError(program.failure)
    if not program.tickets_valid():
        program.failure = f"not all response data valid: expected {program.expected}"
        raise PlaybackError(f"Not all response data to the program valid: expected "
                            f"{program.expected}")
    return RunInfo(start, end, execute_s, time.perf_counter() - t0 - execute_s)
