"""The nominal HAGEN base configuration: what "uncalibrated" means.

calix's start values for every CapMem cell, the HAGEN neuron and backend bits, CADC enabled
with every channel connected to its neuron, synapse drivers in hagen mode with the nominal
`hagen_dac_offset`, every crossbar node dropping, and the PPU base program started
(docs/calibration.md, docs/analog-model.md). A calibration is a cocolist
applied on top of it.
"""

from __future__ import annotations

import numpy as np

from hwlayer.regmap import capmem as cm
from hwlayer.regmap import registers as R

from . import containers as C
from . import coordinates as co
from .cocolist import Cocolist

# start values of the per-neuron cells (CapMem LSB)
NEURON_CELLS = {
    "v_leak": 325,  # reads ~120 at the nominal CADC ramp
    "v_reset": 325,
    "v_threshold": 600,
    "i_bias_leak": 0,  # leak off: HAGEN integrates
    "i_bias_reset": 1012,
    "i_bias_synin_exc_tau": 400,
    "i_bias_synin_exc_shift": 310,
    "i_bias_synin_exc_gm": 450,
    "i_bias_synin_inh_tau": 400,
    "i_bias_synin_inh_shift": 310,
    "i_bias_synin_inh_gm": 450,
}
# start values of the per-quadrant cells
QUADRANT_CELLS = {
    "cadc_v_ramp_offset": 115,
    "cadc_v_bias_ramp_buf": 400,
    "cadc_i_ramp_slope": 350,
    "cadc_i_bias_comp": 1022,
    "cadc_i_bias_vreset_buf": 1022,
    "neuron_v_bias_casc_n": 250,
    "syn_i_bias_dac": 1022,
    "stp_i_bias_comparator": 1022,
    "stp_i_ramp": 600,
    "stp_i_calib": 600,
    "neuron_i_bias_readout_amp": 110,
    "neuron_i_bias_leak_source_follower": 100,
    "neuron_i_bias_spike_comparator": 200,
    "neuron_i_bias_synin_drop": 300,
}
SINGLE_CELLS = {
    "hagen_ibias_dac_top": 820,
    "hagen_ibias_dac_bottom": 820,
    "readout_out_amp_i_bias_0": 1022,
    "readout_out_amp_i_bias_1": 1022,
}
HAGEN_DAC_OFFSET_NOMINAL = 31
STP_OFFSET = 7  # Offset.max // 2

HAGEN_NEURON_CONFIG = C.NeuronConfig(
    enable_reset_multiplication=True, enable_leak_division=True,
    enable_readout_amplifier=True, readout_source=C.NeuronConfig.ReadoutSource.membrane,
    membrane_capacitor_size=63,
    enable_synaptic_input_excitatory=True, enable_synaptic_input_inhibitory=True,
    enable_synaptic_input_excitatory_small_capacitance=True,
    enable_synaptic_input_inhibitory_small_capacitance=True,
    enable_fire=True)

HAGEN_BACKEND_CONFIG = C.NeuronBackendConfig(refractory_time=70, select_input_clock=True)

HAGEN_DRIVER_CONFIG = C.SynapseDriverConfig(
    offset=STP_OFFSET, enable_hagen_dac=True, enable_stp=True, enable_hagen_modulation=True,
    enable_address_out=False, enable_charge_sharing=False,
    hagen_dac_offset=HAGEN_DAC_OFFSET_NOMINAL)


def capmem_start_values() -> np.ndarray:
    """(4 blocks, 130 columns, 24 rows) CapMem values of the base configuration."""
    v = np.zeros((4, R.CAPMEM_COLUMNS, R.CAPMEM_ROWS), dtype=np.int64)
    for name, value in NEURON_CELLS.items():
        v[:, :128, cm.NEURON_ROWS[name]] = value
    for name, value in QUADRANT_CELLS.items():
        col, row = cm.QUADRANT_CELLS[name]
        v[:, col, row] = value
    for name, value in SINGLE_CELLS.items():
        v[cm.SINGLE_CELLS[name]] = value
    return v


def hagen_base_configuration() -> Cocolist:
    """The uncalibrated HAGEN configuration of the whole chip as a cocolist."""
    cc = Cocolist()
    cells = capmem_start_values()
    for block in range(4):
        cc.append(co.CapMemBlockOnDLS(block=block), C.CapMemBlock(values=cells[block]))
    for h in range(2):
        for c in range(256):
            cc.append(co.NeuronConfigOnDLS(hemisphere=h, column=c), HAGEN_NEURON_CONFIG)
    for h in range(2):
        for c in range(256):
            cc.append(co.NeuronBackendConfigOnDLS(hemisphere=h, column=c),
                      HAGEN_BACKEND_CONFIG)
    for block in range(2):
        cc.append(co.CommonNeuronBackendConfigOnDLS(block=block),
                  C.CommonNeuronBackendConfig(clock_scale_slow=9, clock_scale_fast=2))
    for h in range(2):
        cc.append(co.CommonCorrelationConfigOnDLS(hemisphere=h),
                  C.CommonCorrelationConfig(reset_duration=5))
        cc.append(co.CADCConfigOnDLS(hemisphere=h), C.CADCConfig(enable=True))
    readout = C.ColumnCorrelationQuad(
        enable_internal_causal=True, enable_internal_acausal=True,
        enable_cadc_neuron_readout_causal=True, enable_cadc_neuron_readout_acausal=True)
    for h in range(2):
        for q in range(64):
            cc.append(co.ColumnCorrelationQuadOnDLS(hemisphere=h, quad=q), readout)
    for h in range(2):
        for d in range(128):
            cc.append(co.SynapseDriverOnDLS(hemisphere=h, driver=d), HAGEN_DRIVER_CONFIG)
    for h in range(2):
        cc.append(co.CommonPADIBusConfigOnDLS(hemisphere=h), C.CommonPADIBusConfig())
        cc.append(co.CommonSTPConfigOnDLS(hemisphere=h), C.CommonSTPConfig())
    for node in range(R.CROSSBAR_NODES):
        cc.append(co.CrossbarNodeOnDLS.from_enum(node), C.CrossbarNode.drop_all)
    for ppu in range(2):
        cc.append(co.PPUControlRegisterOnDLS(ppu=ppu), C.PPUControlRegister(inhibit_reset=True))
    return cc
