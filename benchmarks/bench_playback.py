"""Throughput of the playback path: build a ~1M-word program, run it, decode the responses.

The program is shaped like an experiment: a configuration block (both synapse weight
matrices, CapMem blocks, PPU memory), then segments of block reads (weights, PPU memory, CADC
sample rows) and timed spike packs. Reports instruction words per second for each phase and
end to end (target: >= 10 M words/s end to end on a 2-core machine). Run:

    python benchmarks/bench_playback.py [--words 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver.containers import CapMemBlock, PPUMemory, SynapseWeightMatrix
from driver.coordinates import (
    CADCSampleRowOnDLS,
    CapMemBlockOnDLS,
    PPUMemoryOnDLS,
    SynapseWeightMatrixOnDLS,
)

SPIKES_PER_SEGMENT = 150_000


def configure(builder: PlaybackProgramBuilder, rng: np.random.Generator) -> None:
    """The configuration block: both synapse weight matrices, PPU memories, CapMem blocks."""
    for h in (0, 1):
        builder.write(SynapseWeightMatrixOnDLS(hemisphere=h),
                      SynapseWeightMatrix(weights=rng.integers(0, 64, (256, 256))))
        builder.write(PPUMemoryOnDLS(ppu=h), PPUMemory(words=rng.integers(0, 2**32, 4096)))
    for block in range(4):
        builder.write(CapMemBlockOnDLS(block=block),
                      CapMemBlock(values=rng.integers(0, 1023, (130, 24))))


def build_segment(builder: PlaybackProgramBuilder, rng: np.random.Generator) -> list:
    """One recording segment: block reads and 150k timed spikes; returns its tickets."""
    tickets = []
    for h in (0, 1):
        tickets.append(builder.read(SynapseWeightMatrixOnDLS(hemisphere=h)))
        tickets.append(builder.read(PPUMemoryOnDLS(ppu=h)))
        tickets.append(builder.read(CADCSampleRowOnDLS(hemisphere=h, row=0, readout_type=1)))
    builder.reset_timer()
    times = np.sort(rng.integers(0, 400_000, SPIKES_PER_SEGMENT))
    labels = rng.integers(0, 2**16, SPIKES_PER_SEGMENT)
    builder.spikes(times, labels)
    return tickets


def measure(n_words: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    builder = PlaybackProgramBuilder()
    configure(builder, rng)
    tickets = []
    while builder.size_to_fpga() < n_words:
        tickets += build_segment(builder, rng)
    program = builder.done()
    t1 = time.perf_counter()
    with EmulatorConnection(0, seed=seed) as conn:
        t2 = time.perf_counter()
        info = conn.run(program)
        for t in tickets:
            t.get()
        t3 = time.perf_counter()
    words = len(program)
    run_s = info.execute_s
    decode_s = (t3 - t2) - run_s
    return {"words": words, "build_s": t1 - t0, "run_s": run_s, "decode_s": decode_s,
            "total_s": (t1 - t0) + (t3 - t2), "chip_time_s": info.chip_time_s}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    measure(50_000)  # warm the numba caches
    best = min((measure(args.words, seed=i) for i in range(args.repeats)),
               key=lambda r: r["total_s"])
    w = best["words"]
    print(f"program: {w} instruction words, {best['chip_time_s'] * 1e3:.1f} ms modelled chip time")
    print(f"{'phase':<12} {'seconds':>9} {'M words/s':>10}")
    for phase in ("build", "run", "decode", "total"):
        s = best[f"{phase}_s"]
        print(f"{phase:<12} {s:>9.4f} {w / s / 1e6:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
