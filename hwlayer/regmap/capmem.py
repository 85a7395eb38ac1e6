"""Named CapMem cells (docs/register-map.md): rows of the per-neuron columns 0..127 and the
per-quadrant cells of column 128/129. Values are 10-bit (0..1022; 1023 = DisableRefresh)."""

from __future__ import annotations

# per-neuron rows (column = neuron column % 128, block = 2 * hemisphere + column // 128)
NEURON_ROWS = {
    "v_leak": 0, "v_reset": 1, "v_threshold": 2, "e_synin_exc_rev": 3, "e_synin_inh_rev": 4,
    "v_adapt_leak": 5, "v_exp": 6, "v_adapt_ref": 7, "i_bias_leak": 8, "i_bias_reset": 9,
    "i_bias_synin_exc_tau": 10, "i_bias_synin_exc_coba": 11, "i_bias_synin_exc_shift": 12,
    "i_bias_synin_exc_gm": 13, "i_bias_synin_inh_tau": 14, "i_bias_synin_inh_coba": 15,
    "i_bias_synin_inh_shift": 16, "i_bias_synin_inh_gm": 17, "i_bias_adapt_tau": 18,
    "i_bias_adapt_a": 19, "i_bias_adapt_b": 20, "i_bias_exp": 21, "i_mem_offset": 22,
    "i_bias_nmda": 23,
}

# per-quadrant cells: name -> (column, row), in every block
QUADRANT_CELLS = {
    "stp_v_charge_0": (128, 0), "stp_v_charge_1": (128, 1), "stp_v_recover_0": (128, 2),
    "stp_v_recover_1": (128, 3), "cadc_v_ramp_offset": (128, 4),
    "cadc_v_bias_ramp_buf": (128, 5), "neuron_v_bias_casc_n": (128, 7),
    "syn_i_bias_dac": (128, 8), "syn_i_bias_ramp": (128, 9), "syn_i_bias_store": (128, 10),
    "syn_i_bias_corout": (128, 11), "stp_i_bias_comparator": (128, 12), "stp_i_ramp": (128, 13),
    "stp_i_calib": (128, 14), "cadc_i_ramp_slope": (128, 15), "cadc_i_bias_comp": (128, 16),
    "cadc_i_bias_vreset_buf": (128, 17), "neuron_i_bias_readout_amp": (128, 18),
    "neuron_i_bias_leak_source_follower": (128, 19),
    "neuron_i_bias_spike_comparator": (128, 20), "neuron_i_bias_synin_drop": (129, 23),
}

# single cells: name -> (block, column, row)
SINGLE_CELLS = {
    "hagen_ibias_dac_top": (1, 128, 22),
    "hagen_ibias_dac_bottom": (3, 128, 22),
    "readout_out_amp_i_bias_0": (0, 128, 23),
    "readout_out_amp_i_bias_1": (0, 129, 8),
}

DISABLE_REFRESH = 1023


def neuron_block_column(hemisphere: int, column: int) -> tuple[int, int]:
    """(CapMem block, CapMem column) of neuron (hemisphere, column)."""
    return 2 * hemisphere + column // 128, column % 128
