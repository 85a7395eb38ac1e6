"""Chip identity: every fixed-pattern parameter, drawn once from the chip id.

The same `chip_id` always gives the same chip (the draw is seeded with the chip id and the
model version); different ids differ. Distributions are documented in docs/analog-model.md.
`chip_id="ideal"` gives a chip without any mismatch (and the analog model runs its exact path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODEL_VERSION = 1

NEURONS = 512
DRIVERS = 256  # 2 hemispheres x 128
QUADRANTS = 4
CHANNELS = 1024  # hemisphere x channel type x column


@dataclass(frozen=True)
class ChipIdentity:
    """Fixed-pattern parameters; multiplicative factors are 1 and offsets 0 on the ideal chip."""

    chip_id: int | str
    ideal: bool
    chip_gain: float  # chip-wide synaptic gain factor
    pseudo_leak_tau_us: np.ndarray  # (2,) pseudo-leak time constant per hemisphere
    spatial_gradient: np.ndarray  # (2,) relative gain change from column 0 to 255
    # per neuron (512 = hemisphere * 256 + column)
    membrane_offset: np.ndarray  # CapMem LSB, shifts leak and reset potential
    reset_offset: np.ndarray  # CapMem LSB, extra offset of the reset potential
    gm_exc: np.ndarray  # synaptic input OTA strength factors
    gm_inh: np.ndarray
    tau_exc: np.ndarray  # synaptic time constant factors
    tau_inh: np.ndarray
    shift_zero_exc: np.ndarray  # reference-shift setting of zero drift contribution
    shift_zero_inh: np.ndarray
    leak: np.ndarray  # leak conductance factor
    v_high: np.ndarray  # CapMem LSB, upper membrane saturation
    v_low: np.ndarray  # CapMem LSB, lower membrane saturation
    noise: np.ndarray  # CapMem LSB, read noise sigma
    synin_offset: np.ndarray  # CapMem LSB, offset of the synaptic input readout
    # per synapse driver (256 = hemisphere * 128 + driver)
    activation_offset: np.ndarray  # activation LSB
    pulse_gain: np.ndarray
    # per quadrant (CapMem block)
    stp_ramp: np.ndarray
    syn_dac: np.ndarray
    cadc_offset: np.ndarray  # CapMem LSB
    cadc_slope: np.ndarray
    capmem_debug_gain: np.ndarray  # debug readout of a cell: value * (1 + tiny mismatch)
    # per CADC channel (1024)
    comparator_offset: np.ndarray  # CADC LSB
    # per synapse (2, 256 rows, 256 columns)
    synapse_gain: np.ndarray


def _lognormal(rng: np.random.Generator, sigma: float, n) -> np.ndarray:
    return np.exp(rng.normal(0.0, sigma, n) - sigma**2 / 2)


def draw_identity(chip_id: int | str) -> ChipIdentity:
    """The fixed pattern of chip `chip_id` (an int >= 0, or "ideal")."""
    if chip_id == "ideal":
        z, one = np.zeros, np.ones
        return ChipIdentity(
            chip_id, True, 1.0, np.full(2, np.inf), z(2), z(NEURONS), z(NEURONS), one(NEURONS),
            one(NEURONS), one(NEURONS), one(NEURONS), np.full(NEURONS, 310.0),
            np.full(NEURONS, 310.0), one(NEURONS), np.full(NEURONS, 1e9), np.full(NEURONS, -1e9),
            z(NEURONS), z(NEURONS), z(DRIVERS), one(DRIVERS), one(QUADRANTS), one(QUADRANTS),
            z(QUADRANTS), one(QUADRANTS), one(QUADRANTS), z(CHANNELS),
            np.ones((2, 256, 256), dtype=np.float32))
    rng = np.random.default_rng(np.random.SeedSequence([int(chip_id), MODEL_VERSION, 0x4858]))
    return ChipIdentity(
        chip_id=chip_id,
        ideal=False,
        chip_gain=float(np.clip(_lognormal(rng, 0.2, 1)[0], 0.6, 1.6)),
        pseudo_leak_tau_us=300.0 * _lognormal(rng, 0.2, 2),
        spatial_gradient=rng.normal(0.0, 0.03, 2),
        membrane_offset=rng.normal(0.0, 18.0, NEURONS),
        reset_offset=rng.normal(0.0, 5.0, NEURONS),
        gm_exc=_lognormal(rng, 0.13, NEURONS),
        gm_inh=_lognormal(rng, 0.13, NEURONS),
        tau_exc=_lognormal(rng, 0.10, NEURONS),
        tau_inh=_lognormal(rng, 0.10, NEURONS),
        shift_zero_exc=rng.normal(310.0, 40.0, NEURONS),
        shift_zero_inh=rng.normal(310.0, 40.0, NEURONS),
        leak=_lognormal(rng, 0.2, NEURONS),
        v_high=rng.normal(545.0, 10.0, NEURONS),
        v_low=rng.normal(110.0, 10.0, NEURONS),
        noise=2.1 * _lognormal(rng, 0.1, NEURONS),
        synin_offset=rng.normal(0.0, 10.0, NEURONS),
        activation_offset=rng.normal(0.0, 4.0, DRIVERS),
        pulse_gain=rng.normal(1.0, 0.01, DRIVERS),
        stp_ramp=_lognormal(rng, 0.08, QUADRANTS),
        syn_dac=_lognormal(rng, 0.08, QUADRANTS),
        cadc_offset=rng.normal(0.0, 10.0, QUADRANTS),
        cadc_slope=_lognormal(rng, 0.05, QUADRANTS),
        capmem_debug_gain=rng.normal(1.0, 0.002, QUADRANTS),
        comparator_offset=rng.normal(0.0, 3.0, CHANNELS),
        synapse_gain=rng.normal(1.0, 0.015, (2, 256, 256)).astype(np.float32),
    )
