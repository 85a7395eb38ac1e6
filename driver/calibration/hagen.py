"""The HAGEN calibration (calix `hagen.calibrate`, docs/calibration.md), adapted to hxemu.

Steps, each measuring only through programs (CADC reads, MAC results):
1. CADC: per quadrant the ramp slope and offset so the reference 150..500 (CapMem LSB, a CapMem
   cell on the debug line) reads 20..220; then per channel the digital offset so every
   channel reads its quadrant's median at mid-range.
2. Neuron potentials: v_reset so the read 5 us after a reset is 120; the excitatory reference
   shift so the membrane does not drift away from there (read after 105 us minus read after
   5 us = 0, leak off); v_leak so the settled read with the leak on is 120; leak off again.
3. Synapse DAC bias per quadrant: the strongest quadrants are lowered to the weakest.
4. Synapse drivers: `hagen_dac_offset` per driver so its ramp starts at activation 0 (the
   amplitude ratio at activations 4 and 16 is 4 / 16, independent of the driver's scale), then
   the STP ramp current per quadrant (even/odd drivers of a hemisphere) so the quadrants'
   mean amplitudes at the driver operating point (activation 16, weight 63, 20 sends) agree.
5. Synaptic input strength per neuron: excitatory OTA bias to the chip's median amplitude at
   the gain operating point (activation 10, weight 21; clipped into the gain range 0.0017 ..
   0.0032), inhibitory to the same amplitude with negative weights.
Differences to calix are listed in docs/calibration.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hwlayer.regmap import capmem as cm

from .. import containers as C
from .. import coordinates as co
from ..base_config import (
    HAGEN_DRIVER_CONFIG,
    HAGEN_NEURON_CONFIG,
    capmem_start_values,
    hagen_base_configuration,
)
from ..builder import PlaybackProgramBuilder
from ..cocolist import Cocolist
from . import measure as M
from .search import SearchResult, binary_search, linear_prediction

REFERENCE_CELL = cm.NEURON_ROWS["v_threshold"]  # of neuron column 0: no effect in HAGEN mode


@dataclass(frozen=True)
class CalibrationTarget:
    """Targets and operating points (calix defaults where calix has them)."""

    cadc_read_range: tuple[int, int] = (20, 220)
    cadc_dynamic_range: tuple[int, int] = (150, 500)  # CapMem LSB of the reference
    leak_read: int = 120  # CADC read of the leak potential
    reset_read: int = 120  # CADC read 5 us after a reset
    synin_gm_start: int = 450  # OTA bias whose median amplitude becomes the target...
    gain_range: tuple[float, float] = (0.0017, 0.0032)  # ...clipped into this gain range
    gain_activation: int = 10
    gain_weight: int = 21
    driver_activation: int = 16
    driver_low_activation: int = 4  # the ramp start is aligned with this and driver_activation
    driver_weight: int = 63
    driver_num_sends: int = 20
    reads: int = 8  # CADC reads averaged per measurement
    gain_repeats: int = 12  # MAC repeats averaged per amplitude measurement


@dataclass
class CalibrationResult:
    """The calibrated settings; `to_cocolist()` is what a `.pbin` file holds."""

    capmem: np.ndarray  # (4 blocks, 130 columns, 24 rows)
    cadc_offsets: np.ndarray  # (2 hemispheres, 2 channel types, 256 columns)
    hagen_dac_offsets: np.ndarray  # (2 hemispheres, 128 drivers)
    success: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_time_s: float = 0.0

    def to_cocolist(self) -> Cocolist:
        """The writes that turn the base configuration into the calibrated chip."""
        cc = Cocolist()
        for block in range(4):
            cc.append(co.CapMemBlockOnDLS(block=block), C.CapMemBlock(values=self.capmem[block]))
        for h in range(2):
            for t in range(2):
                for c in range(256):
                    cc.append(co.CADCChannelConfigOnDLS(hemisphere=h, channel_type=t, column=c),
                              C.CADCChannelConfig(offset=int(self.cadc_offsets[h, t, c])))
        for h in range(2):
            for d in range(128):
                cc.append(co.SynapseDriverOnDLS(hemisphere=h, driver=d), HAGEN_DRIVER_CONFIG
                          .replace(hagen_dac_offset=int(self.hagen_dac_offsets[h, d])))
        cc.append(co.TimerOnDLS(), C.Timer())
        cc.append(co.TimerOnDLS(), C.Timer.Value(20 * M.US))  # let the CapMem settle
        return cc

    def apply(self, builder: PlaybackProgramBuilder) -> None:
        self.to_cocolist().apply(builder)


def _quadrant_medians(per_channel: np.ndarray) -> np.ndarray:
    """(512 neurons or channels) -> median per quadrant (4,): columns <128 west, >=128 east."""
    v = per_channel.reshape(2, 2, 128)
    return np.median(v, axis=2).ravel()


class _Calibrator:
    def __init__(self, connection, target: CalibrationTarget,
                 progress: Callable[[str], None] | None) -> None:
        self.conn = connection
        self.t = target
        self.progress = progress or (lambda step: None)
        self.cells = capmem_start_values()
        self.success: dict[str, np.ndarray] = {}

    # -- writing ------------------------------------------------------------------------------

    def neuron_cell(self, name: str, values) -> None:
        v = np.broadcast_to(np.asarray(values, dtype=np.int64), (512,)).reshape(2, 256)
        row = cm.NEURON_ROWS[name]
        for h in range(2):
            self.cells[2 * h, :128, row] = v[h, :128]
            self.cells[2 * h + 1, :128, row] = v[h, 128:]
        M.write_neuron_cells(self.conn, name, v.ravel())

    def quadrant_cell(self, name: str, values) -> None:
        col, row = cm.QUADRANT_CELLS[name]
        v = np.broadcast_to(np.asarray(values, dtype=np.int64), (4,))
        self.cells[:, col, row] = v
        M.write_quadrant_cells(self.conn, name, v)

    def write(self, entries) -> None:
        b = PlaybackProgramBuilder()
        Cocolist(entries).apply(b)
        self.conn.run(b.done())

    def record(self, name: str, r: SearchResult) -> np.ndarray:
        self.success[name] = r.success
        return r.settings

    # -- 1. CADC ---------------------------------------------------------------------------------

    def cadc(self) -> np.ndarray:
        t = self.t
        self.progress("CADC ramps")
        self.write([(co.ColumnCorrelationQuadOnDLS(hemisphere=h, quad=q),
                     C.ColumnCorrelationQuad(enable_debug_causal=True, enable_debug_acausal=True))
                    for h in range(2) for q in range(64)]
                   + [(co.CADCDebugLineConfigOnDLS(hemisphere=h),
                       C.CADCDebugLineConfig(enable=True, capmem_block=2 * h)) for h in range(2)]
                   + [(co.CapMemBlockConfigOnDLS(block=2 * h), C.CapMemBlockConfig(
                       enable_debug_readout=True, debug_readout_column=0,
                       debug_readout_row=REFERENCE_CELL)) for h in range(2)])

        def read_at(value: int) -> np.ndarray:
            M.write_cells(self.conn, {(2 * h, 0, REFERENCE_CELL): value for h in range(2)})
            return M.cadc_reads(self.conn, t.reads)

        lo_ref, hi_ref = t.cadc_dynamic_range
        lo_read, hi_read = t.cadc_read_range

        def span(slope_bias: np.ndarray) -> np.ndarray:
            self.quadrant_cell("cadc_i_ramp_slope", slope_bias)
            return _quadrant_medians(read_at(hi_ref) - read_at(lo_ref))

        def low_read(offset: np.ndarray) -> np.ndarray:
            self.quadrant_cell("cadc_v_ramp_offset", offset)
            return _quadrant_medians(read_at(lo_ref))

        for _ in range(2):  # slope and offset interact through the top bend and clipping
            slope = self.record("cadc_slope", binary_search(
                span, hi_read - lo_read, 1, 1022, 4, increasing=False, tolerance=4,
                name="CADC ramp slope"))
            self.quadrant_cell("cadc_i_ramp_slope", slope)
            offset = self.record("cadc_offset", binary_search(
                low_read, lo_read, 0, 1022, 4, increasing=False, tolerance=2,
                name="CADC ramp offset"))
            self.quadrant_cell("cadc_v_ramp_offset", offset)
        # channel offsets: every channel reads its quadrant's median at mid-range
        self.progress("CADC channel offsets")
        M.write_cells(self.conn, {(2 * h, 0, REFERENCE_CELL): (lo_ref + hi_ref) // 2
                                  for h in range(2)})
        per_type = np.stack([M.cadc_reads(self.conn, 2 * t.reads, channel_types=(ct,))
                             for ct in (0, 1)])  # (type, 512)
        reads = per_type.reshape(2, 2, 256).transpose(1, 0, 2)  # (h, type, column)
        medians = np.median(reads.reshape(2, 2, 2, 128), axis=(1, 3))  # (h, west/east)
        target = np.repeat(medians, 128, axis=1)[:, None, :]
        offsets = np.clip(np.round(target - reads), -128, 127).astype(np.int64)
        self.success["cadc_channel_offsets"] = (np.abs(target - reads) < 100).ravel()
        # back to the neurons, debug line off
        self.write([(co.CADCChannelConfigOnDLS(hemisphere=h, channel_type=ct, column=c),
                     C.CADCChannelConfig(offset=int(offsets[h, ct, c])))
                    for h in range(2) for ct in range(2) for c in range(256)]
                   + [(co.ColumnCorrelationQuadOnDLS(hemisphere=h, quad=q),
                       C.ColumnCorrelationQuad(
                           enable_internal_causal=True, enable_internal_acausal=True,
                           enable_cadc_neuron_readout_causal=True,
                           enable_cadc_neuron_readout_acausal=True))
                      for h in range(2) for q in range(64)]
                   + [(co.CADCDebugLineConfigOnDLS(hemisphere=h), C.CADCDebugLineConfig())
                      for h in range(2)]
                   + [(co.CapMemBlockConfigOnDLS(block=b), C.CapMemBlockConfig())
                      for b in range(4)])
        return offsets

    # -- 2. neuron potentials ---------------------------------------------------------------------

    def potentials(self) -> None:
        t = self.t
        self.progress("neuron reset potentials")

        def rest(v_reset: np.ndarray) -> np.ndarray:
            self.neuron_cell("v_reset", v_reset)
            return M.resting_reads(self.conn, t.reads)

        self.neuron_cell("v_reset", self.record("v_reset", binary_search(
            rest, t.reset_read, 0, 1022, 512, tolerance=2, name="v_reset")))
        self.progress("neuron reference shifts (drift)")

        def drift(shift: np.ndarray) -> np.ndarray:
            self.neuron_cell("i_bias_synin_exc_shift", shift)
            return M.drift_reads(self.conn, t.reads, 5.0, 105.0)

        self.neuron_cell("i_bias_synin_exc_shift", self.record("shift", binary_search(
            drift, 0.0, 0, 1022, 512, tolerance=2, name="i_bias_synin_exc_shift")))
        self.progress("neuron leak potentials")
        # leak on (without the division) only while the leak potential is calibrated
        self.write([(co.NeuronConfigOnDLS(hemisphere=h, column=c),
                     HAGEN_NEURON_CONFIG.replace(enable_leak_division=False))
                    for h in range(2) for c in range(256)])
        self.neuron_cell("i_bias_leak", 1022)

        def settled(v_leak: np.ndarray) -> np.ndarray:
            self.neuron_cell("v_leak", v_leak)
            return M.resting_reads(self.conn, t.reads, wait_us=200.0)

        self.neuron_cell("v_leak", self.record("v_leak", binary_search(
            settled, t.leak_read, 0, 1022, 512, tolerance=2, name="v_leak")))
        self.neuron_cell("i_bias_leak", 0)
        self.write([(co.NeuronConfigOnDLS(hemisphere=h, column=c), HAGEN_NEURON_CONFIG)
                    for h in range(2) for c in range(256)])
        self.progress("neuron reset potentials (again)")
        self.neuron_cell("v_reset", self.record("v_reset", binary_search(
            rest, t.reset_read, 0, 1022, 512, tolerance=2, name="v_reset")))

    # -- 3. synapse DAC bias -------------------------------------------------------------------

    def synapse_dac(self) -> None:
        t = self.t
        self.progress("synapse DAC bias")
        amp = M.neuron_amplitudes(self.conn, t.gain_activation, t.gain_weight, t.gain_repeats)
        med = _quadrant_medians(amp)
        dac = np.clip(np.round(1022 * med.min() / med), 1, 1022).astype(np.int64)
        self.quadrant_cell("syn_i_bias_dac", dac)
        self.success["syn_i_bias_dac"] = dac > 1

    # -- 4. synapse drivers -------------------------------------------------------------------

    def drivers(self) -> np.ndarray:
        t = self.t
        self.progress("synapse driver DAC offsets")

        def amplitudes(activation: int) -> np.ndarray:
            return M.driver_amplitudes(self.conn, activation, t.driver_weight,
                                       t.driver_num_sends)

        low, high = t.driver_low_activation, t.driver_activation

        def ratio(offsets: np.ndarray) -> np.ndarray:
            # amplitude ~ scale * (a - a0): the ratio at two activations is low / high
            # exactly when the ramp starts at a0 = 0, whatever the driver's scale
            self.write([(co.SynapseDriverOnDLS(hemisphere=gd // 128, driver=gd % 128),
                         HAGEN_DRIVER_CONFIG.replace(hagen_dac_offset=int(offsets[gd])))
                        for gd in range(256)])
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.nan_to_num(amplitudes(low) / amplitudes(high))

        offsets = self.record("hagen_dac_offset", binary_search(
            ratio, low / high, 0, 63, 256, tolerance=0.02, name="hagen_dac_offset"))
        ratio(offsets)
        self.progress("synapse driver ramps")
        amp = amplitudes(high)
        quadrant = 2 * (np.arange(256) // 128) + np.arange(256) % 2  # even drivers west
        mean_q = np.array([amp[quadrant == q].mean() for q in range(4)])
        ramp = self.cells[:, *cm.QUADRANT_CELLS["stp_i_ramp"]].astype(np.float64)
        ramp = np.clip(np.round(ramp * mean_q / mean_q.mean()), 1, 1022).astype(np.int64)
        self.quadrant_cell("stp_i_ramp", ramp)
        self.quadrant_cell("stp_i_calib", ramp)
        self.success["stp_ramp"] = (ramp > 1) & (ramp < 1022)
        return offsets.reshape(2, 128)

    # -- 5. synaptic input strength ---------------------------------------------------------------

    def synaptic_inputs(self) -> None:
        t = self.t
        self.progress("synaptic input strength")

        def amplitude(sign: int) -> Callable[[np.ndarray], np.ndarray]:
            name = "i_bias_synin_exc_gm" if sign > 0 else "i_bias_synin_inh_gm"

            def run(gm: np.ndarray) -> np.ndarray:
                self.neuron_cell(name, gm)
                return sign * M.neuron_amplitudes(self.conn, t.gain_activation,
                                                  sign * t.gain_weight, t.gain_repeats)
            return run

        start = np.full(512, t.synin_gm_start)
        ideal_amplitude = t.gain_activation * t.gain_weight * 128
        lo, hi = (g * ideal_amplitude for g in t.gain_range)
        target = float(np.clip(np.median(amplitude(+1)(start)), lo, hi))
        for sign, name in ((+1, "i_bias_synin_exc_gm"), (-1, "i_bias_synin_inh_gm")):
            gm = self.record(name, linear_prediction(
                amplitude(sign), target, start, 1, 1022, proportional=True, iterations=3,
                tolerance=0.05 * target, name=name))
            self.neuron_cell(name, gm)


def summary(connection, target: CalibrationTarget) -> dict[str, float]:
    """The properties of docs/calibration.md at their operating points, through the public path."""
    amp = M.neuron_amplitudes(connection, target.gain_activation, target.gain_weight, 20)
    gain = amp / (target.gain_activation * target.gain_weight * 128)
    rest = M.resting_reads(connection, 20)
    drv = M.driver_amplitudes(connection, target.driver_activation, target.driver_weight,
                              target.driver_num_sends)
    return {
        "gain_median": float(np.median(gain)),
        "gain_cv": float(np.std(gain) / np.mean(gain)),
        "resting_read_median": float(np.median(rest)),
        "resting_read_std": float(np.std(rest)),
        "resting_within_2": float(np.mean(np.abs(rest - target.reset_read) <= 2)),
        "driver_mismatch": float(max(np.std(drv[:128]), np.std(drv[128:]))),
    }


def calibrate(connection, target: CalibrationTarget | None = None, *,
              progress: Callable[[str], None] | None = None,
              measure_summary: bool = True) -> CalibrationResult:
    """Calibrate the chip behind `connection` for HAGEN mode; returns the result.

    Starts from the base configuration (applied here) and leaves the chip calibrated.
    """
    if getattr(connection, "chip_id", None) == "ideal":
        raise ValueError("the ideal chip has no mismatch: there is nothing to calibrate "
                         "(use it with the base configuration)")
    target = target or CalibrationTarget()
    start = time.perf_counter()
    connection.run(hagen_base_configuration().to_program())
    cal = _Calibrator(connection, target, progress)
    before = summary(connection, target) if measure_summary else {}
    cadc_offsets = cal.cadc()
    cal.potentials()
    cal.synapse_dac()
    dac_offsets = cal.drivers()
    cal.synaptic_inputs()
    after = summary(connection, target) if measure_summary else {}
    return CalibrationResult(
        capmem=cal.cells.copy(), cadc_offsets=cadc_offsets, hagen_dac_offsets=dac_offsets,
        success=cal.success, summary={"before": before, "after": after},
        wall_time_s=time.perf_counter() - start)
