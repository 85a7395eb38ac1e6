"""What the calibration measures, only through programs on a connection (as on a real chip).

CADC reads of the neurons' readout or of the debug line, resting reads after a reset, and
MAC amplitudes per neuron or per synapse driver. Every function writes what it needs, runs
one program and returns numpy arrays; none of them looks at the emulator's internals.
"""

from __future__ import annotations

import numpy as np

from hwlayer.regmap import capmem as cm

from .. import containers as C
from .. import coordinates as co
from ..builder import PlaybackProgramBuilder
from ..mac import MAC

US = 125  # FPGA cycles per microsecond


def write_cells(connection, cells: dict[tuple[int, int, int], int]) -> None:
    """Write CapMem cells {(block, column, row): value} and wait for them to settle."""
    b = PlaybackProgramBuilder()
    for (block, column, row), value in cells.items():
        b.write(co.CapMemCellOnDLS(block=block, column=column, row=row),
                C.CapMemCell(value=int(value)))
    b.write(co.TimerOnDLS(), C.Timer())
    b.block_until(co.TimerOnDLS(), C.Timer.Value(20 * US))
    connection.run(b.done())


def write_neuron_cells(connection, name: str, values: np.ndarray) -> None:
    """A per-neuron CapMem cell for all 512 neurons (values indexed 256 h + column)."""
    v = np.asarray(values, dtype=np.int64).reshape(2, 256)
    row = cm.NEURON_ROWS[name]
    write_cells(connection, {(2 * h + c // 128, c % 128, row): v[h, c]
                             for h in range(2) for c in range(256)})


def write_quadrant_cells(connection, name: str, values) -> None:
    """A per-quadrant CapMem cell for the 4 quadrants (CapMem blocks)."""
    col, row = cm.QUADRANT_CELLS[name]
    write_cells(connection, {(q, col, row): int(v) for q, v in enumerate(values)})


def _reset_all(b: PlaybackProgramBuilder) -> None:
    for h in range(2):
        for q in range(64):
            b.write(co.NeuronResetQuadOnDLS(hemisphere=h, quad=q), C.NeuronResetQuad())


def cadc_reads(connection, repeats: int, *, reset: bool = False, wait_us: float = 5.0,
               channel_types: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Mean over `repeats` CADC reads per channel, averaged over the channel types (512,).

    With `reset`, every read follows a reset of all neurons by `wait_us` (the "resting read"
    of the PPU baseline).
    """
    b = PlaybackProgramBuilder()
    tickets = []
    for _ in range(repeats):
        b.write(co.TimerOnDLS(), C.Timer())
        if reset:
            _reset_all(b)
        b.block_until(co.TimerOnDLS(), C.Timer.Value(int(wait_us * US)))
        tickets.append([b.read(co.CADCSampleRowOnDLS(hemisphere=h, row=0, readout_type=0))
                        for h in range(2)])
    connection.run(b.done())
    total = np.zeros(512)
    for row in tickets:
        for h, t in enumerate(row):
            r = t.get()
            for ct in channel_types:
                total[h * 256:(h + 1) * 256] += (r.causal, r.acausal)[ct]
    return total / (repeats * len(channel_types))


def resting_reads(connection, repeats: int, wait_us: float = 5.0) -> np.ndarray:
    """Per neuron, the mean CADC read `wait_us` after a reset (512,)."""
    return cadc_reads(connection, repeats, reset=True, wait_us=wait_us)


def drift_reads(connection, repeats: int, early_us: float, late_us: float) -> np.ndarray:
    """Per neuron, read(late) - read(early) after a reset: the membrane's drift (512,)."""
    late = resting_reads(connection, repeats, late_us)
    early = resting_reads(connection, repeats, early_us)
    return late - early


def neuron_amplitudes(connection, activation: int, weight: int, repeats: int,
                      num_sends: int = 1) -> np.ndarray:
    """Per neuron (512 = 256 h + column), the mean MAC output for `activation` on all 128
    rows of `weight` (both hemispheres in one run, one tile each)."""
    w = np.full((256, 256), weight, dtype=np.int64)
    x = np.full((repeats, 256), activation, dtype=np.int64)
    y = MAC(w, num_sends=num_sends).run_tiles(x, connection).astype(np.float64)
    return y.mean(axis=0).reshape(512)


def driver_amplitudes(connection, activation: int, weight: int, num_sends: int,
                      repeats: int = 1) -> np.ndarray:
    """Per synapse driver (256 = 128 h + d), the median over the hemisphere's 256 neurons of
    the output when only that driver receives `activation` (weight on all columns)."""
    w = np.full((256, 256), weight, dtype=np.int64)
    x = np.zeros((256 * repeats, 256), dtype=np.int64)
    idx = np.arange(256 * repeats)
    x[idx, idx % 256] = activation
    y = MAC(w, num_sends=num_sends).run_tiles(x, connection).astype(np.float64)
    hemisphere = (idx % 256) // 128  # input i drives driver i % 128 of hemisphere i // 128
    own = y[idx, hemisphere]  # (entries, 256 neurons)
    return np.median(own, axis=1).reshape(repeats, 256).mean(axis=0)
