"""Word layouts of every HAGEN-mode register (docs/register-map.md).

Bit positions are host-view (bit 0 = LSB). Where the spec gives a layout it is copied exactly,
inversions and permutations included. Layouts the public sources do not give are marked
"hxemu layout" in their doc string and documented in docs/register-map.md.
"""

from __future__ import annotations

from .layout import Layout, bits, per_entry, quad_byte, scalar, split

# Synapse SRAM cells are wired permuted to the DAC: stored[5]=w[5], stored[4..0]=w[0..4].
WEIGHT_PERMUTATION = (4, 3, 2, 1, 0, 5)  # stored bit i holds value bit WEIGHT_PERMUTATION[i]

# --- synapse array -------------------------------------------------------------------------

SYNAPSE_QUAD = Layout(
    "SynapseQuad",
    2,
    (
        quad_byte("weights", 0, 5, 0, permutation=WEIGHT_PERMUTATION),
        quad_byte("time_calibs", 0, 7, 6),
        quad_byte("labels", 1, 5, 0),
        quad_byte("amp_calibs", 1, 7, 6),
    ),
    "Four synapses: word 0 weight (permuted) + time_calib, word 1 label + amp_calib.",
)

SYNAPSE_WEIGHT_QUAD = Layout(
    "SynapseWeightQuad",
    1,
    (quad_byte("weights", 0, 5, 0, permutation=WEIGHT_PERMUTATION),),
    "Weight view of a synapse quad (bits 7..6 of each byte unused).",
)

SYNAPSE_LABEL_QUAD = Layout(
    "SynapseLabelQuad", 1, (quad_byte("labels", 0, 5, 0),), "Label view of a synapse quad."
)

SYNAPSE_CORRELATION_CALIB_QUAD = Layout(
    "SynapseCorrelationCalibQuad",
    2,
    (quad_byte("time_calibs", 0, 1, 0), quad_byte("amp_calibs", 1, 1, 0)),
    "Correlation-calibration view: the 2 MSBs of the weight and label bytes.",
)

COMMON_SYNRAM_CONFIG = Layout(
    "CommonSynramConfig",
    3,
    (
        scalar("pc_conf_west", 0, 3, 0, default=8),
        scalar("pc_conf_east", 0, 7, 4, default=8),
        scalar("w_conf_west", 1, 7, 0, default=3),
        scalar("w_conf_east", 1, 15, 8, default=3),
        scalar("wait_ctr_clear", 2, 2, 0, default=4),
    ),
    "SRAM timing of the synapse array; no analog effect.",
)

COLUMN_CURRENT_QUAD = Layout(
    "ColumnCurrentQuad",
    2,
    (
        quad_byte("enable_synaptic_current_excitatory", 0, 0, 0),
        quad_byte("enable_debug_excitatory", 0, 1, 1),
        quad_byte("enable_synaptic_current_inhibitory", 1, 0, 0),
        quad_byte("enable_debug_inhibitory", 1, 1, 1),
    ),
    "hxemu layout: column line -> neuron synaptic input switches, one byte per entry.",
)

COLUMN_CORRELATION_QUAD = Layout(
    "ColumnCorrelationQuad",
    4,
    (
        quad_byte("enable_internal_causal", 0, 0, 0),
        quad_byte("enable_internal_acausal", 0, 1, 1),
        quad_byte("enable_debug_causal", 1, 0, 0),
        quad_byte("enable_debug_acausal", 1, 1, 1),
        quad_byte("enable_cadc_neuron_readout_causal", 2, 0, 0),
        quad_byte("enable_cadc_neuron_readout_acausal", 3, 0, 0),
    ),
    "hxemu layout: CADC channel connections (neuron readout, debug line), one byte per entry.",
)

# --- synapse drivers and PADI ---------------------------------------------------------------

ROW_MODES = ("disabled", "excitatory", "inhibitory", "excitatory_and_inhibitory")

SYNAPSE_DRIVER_CONFIG = Layout(
    "SynapseDriverConfig",
    3,
    (
        scalar("utilization", 0, 3, 0),
        scalar("offset", 0, 7, 4),
        scalar("enable_hagen_dac", 0, 8),
        scalar("row_address_compare_mask", 0, 13, 9, default=0b11111),
        scalar("enable_address_out", 0, 14, inverted=True, default=1),
        scalar("enable_receiver", 0, 15),
        scalar("recovery", 1, 3, 0, permutation=(3, 2, 1, 0)),
        # row modes: value bit 0 = excitatory enable, value bit 1 = inhibitory enable
        split("row_mode_bottom", 2, (bits(1, 4, 4, 0), bits(1, 6, 6, 1))),
        split("row_mode_top", 2, (bits(1, 5, 5, 0), bits(1, 7, 7, 1))),
        scalar("hagen_dac_offset", 1, 13, 8, inverted=True),
        scalar("select_target_voltages", 2, 0),
        scalar("enable_readout", 2, 1),
        scalar("enable_renewing", 2, 2),
        scalar("enable_hagen_modulation", 2, 3),
        scalar("enable_stp", 2, 4),
        scalar("enable_charge_sharing", 2, 6, inverted=True),
        scalar("enable_recovery", 2, 7),
    ),
    "Per-driver config; row modes index ROW_MODES.",
)

COMMON_PADI_BUS_CONFIG = Layout(
    "CommonPADIBusConfig",
    1,
    (
        per_entry("enable_spl1", 4, lambda b: [bits(0, b, b)], 1),
        per_entry("enable_extended_timing", 4, lambda b: [bits(0, 4 + b, 4 + b)], 1),
        per_entry(
            "dacen_pulse_extension", 4, lambda b: [bits(0, 19 + 4 * b, 16 + 4 * b)], 4
        ),
    ),
)

COMMON_STP_CONFIG = Layout(
    "CommonSTPConfig",
    1,
    (scalar("recovery_clock_speed", 0, 3, 0), scalar("enable_recovery_clock", 0, 4)),
)

PADI_EVENT = Layout(
    "PADIEvent",
    1,
    (
        per_entry("fire_bus", 4, lambda b: [bits(0, b, b)], 1),
        scalar("event_address", 0, 21, 16),
        scalar("row_select_address", 0, 26, 22),
    ),
    "Write-only trigger: an on-chip event on the selected buses.",
)

# --- crossbar ----------------------------------------------------------------------------

CROSSBAR_NODE = Layout(
    "CrossbarNode",
    1,
    (
        scalar("mask", 0, 13, 0),
        scalar("target", 0, 29, 16),
        scalar("enable_drop_counter", 0, 31),
    ),
    "Routes a label iff (label & mask) == target; drop_all = mask 0, target 1.",
)

CROSSBAR_OUTPUT_CONFIG = Layout(
    "CrossbarOutputConfig",
    1,
    (
        per_entry("enable_slow", 4, lambda i: [bits(0, i, i)], 1),
        per_entry("enable_event_counter", 12, lambda i: [bits(0, 4 + i, 4 + i)], 1),
    ),
)

EVENT_COUNTER = Layout(
    "EventCounter", 1, (scalar("value", 0, 31, 0),), "Read-only crossbar event/drop counter."
)

# --- neurons -------------------------------------------------------------------------------

READOUT_SOURCES = ("membrane", "exc_synin", "inh_synin", "adaptation")

NEURON_CONFIG = Layout(
    "NeuronConfig",
    6,
    (
        scalar("enable_reset_degeneration", 0, 0),
        scalar("enable_reset_division", 0, 1),
        scalar("enable_reset_multiplication", 0, 2),
        scalar("enable_leak_degeneration", 0, 3),
        scalar("enable_leak_division", 0, 4),
        scalar("enable_leak_multiplication", 0, 5),
        scalar("enable_strong_fire", 0, 6),
        scalar("enable_synaptic_input_inhibitory_coba", 1, 1),
        scalar("enable_synaptic_input_excitatory_coba", 1, 2),
        scalar("enable_unbuffered_access", 1, 3),
        scalar("enable_readout_amplifier", 1, 4),
        scalar("readout_source", 1, 6, 5),
        scalar("enable_readout", 1, 7),
        scalar("invert_adaptation_b", 2, 0),
        scalar("invert_adaptation_a", 2, 1),
        scalar("enable_adaptation", 2, 2),
        scalar("enable_exponential", 2, 3),
        scalar("enable_synaptic_input_inhibitory_small_capacitance", 2, 4),
        scalar("enable_synaptic_input_excitatory_small_capacitance", 2, 5),
        scalar("enable_synaptic_input_inhibitory_high_resistance", 2, 6),
        scalar("enable_synaptic_input_excitatory_high_resistance", 2, 7),
        scalar("enable_membrane_offset", 3, 0),
        scalar("membrane_capacitor_size", 3, 7, 2),
        scalar("invert_current", 4, 0),
        scalar("enable_fire", 4, 2),
        scalar("enable_threshold_comparator", 4, 3),
        scalar("enable_synaptic_input_inhibitory", 4, 4),
        scalar("enable_synaptic_input_excitatory", 4, 5),
        scalar("enable_bypass_inhibitory", 4, 6),
        scalar("enable_bypass_excitatory", 4, 7),
        scalar("connect_somata", 5, 0),
        scalar("connect_bottom", 5, 1),
        scalar("enable_multicomp_conductance", 5, 2),
        scalar("connect_membrane_right", 5, 3),
        scalar("connect_soma", 5, 4),
        scalar("enable_multicomp_conductance_multiplication", 5, 5),
        scalar("enable_multicomp_conductance_division", 5, 6),
        scalar("enable_pause", 5, 7),
    ),
    "HICANN-X v3 neuron config; readout_source indexes READOUT_SOURCES.",
)

NEURON_RESET_QUAD = Layout(
    "NeuronResetQuad", 1, (), "Write-only trigger: resets the 4 neurons of a quad column."
)

NEURON_BACKEND_CONFIG = Layout(
    "NeuronBackendConfig",
    4,
    (
        split(
            "address_out", 8, (bits(0, 5, 0, 2), bits(1, 5, 4, 0)), inverted=True
        ),
        split("reset_holdoff", 4, (bits(0, 7, 6, 0), bits(1, 7, 6, 2)), default=15),
        split(
            "refractory_time", 8, (bits(1, 3, 0, 4), bits(2, 5, 2, 0)), inverted=True
        ),
        scalar("post_overwrite", 2, 0),
        scalar("select_input_clock", 2, 1),
        scalar("enable_adaptation_pulse", 2, 6),
        scalar("enable_bayesian_extension", 2, 7, default=1),
        scalar("enable_neuron_slave", 3, 0),
        scalar("connect_fire_bottom", 3, 1),
        scalar("connect_fire_from_right", 3, 2),
        scalar("connect_fire_to_right", 3, 3),
        scalar("enable_spike_out", 3, 4),
        scalar("enable_neuron_master", 3, 5),
        scalar("enable_bayesian_1", 3, 6),
        scalar("enable_bayesian_0", 3, 7),
    ),
)

COMMON_NEURON_BACKEND_CONFIG = Layout(
    "CommonNeuronBackendConfig",
    2,
    (
        scalar("enable_event_registers", 0, 0, default=1),
        scalar("force_reset", 0, 1),
        scalar("enable_clocks", 0, 2, default=1),
        scalar("clock_scale_slow", 0, 7, 4),
        scalar("clock_scale_fast", 0, 11, 8),
        per_entry("sample_positive_edge", 4, lambda i: [bits(0, 12 + i, 12 + i)], 1, default=1),
        scalar("clock_scale_adapt_pulse", 0, 19, 16),
        scalar("clock_scale_post_pulse", 0, 23, 20),
        scalar("wait_global_post_pulse", 1, 7, 0, default=1),
        scalar("wait_spike_counter_reset", 1, 15, 8, default=4),
        scalar("wait_spike_counter_read", 1, 23, 16, default=112),
        scalar("wait_fire_neuron", 1, 31, 24, default=4),
    ),
)

# --- CADC and correlation ------------------------------------------------------------------

CADC_CONFIG = Layout(
    "CADCConfig",
    1,
    (
        scalar("enable", 0, 0),
        scalar("reset_wait", 0, 11, 4, default=100),
        scalar("dead_time", 0, 19, 12, default=20),
    ),
)

CADC_CHANNEL_CONFIG = Layout(
    "CADCChannelConfig",
    1,
    (scalar("offset", 0, 7, 0, minimum=-128, maximum=127, offset=128),),
    "Per-channel digital offset, stored as offset + 128.",
)

CADC_SAMPLE_QUAD = Layout(
    "CADCSampleQuad",
    1,
    (quad_byte("samples", 0, 7, 0),),
    "Read-only: four 8-bit CADC results, entry 0 in bits 31..24.",
)

CADC_DEBUG_LINE_CONFIG = Layout(
    "CADCDebugLineConfig",
    1,
    (scalar("enable", 0, 0), scalar("capmem_block", 0, 2, 1)),
    "hxemu layout: drives the hemisphere's CADC debug line from a CapMem block's debug output.",
)

COMMON_CORRELATION_CONFIG = Layout(
    "CommonCorrelationConfig",
    4,
    (
        scalar("sense_delay", 0, 11, 0, default=1),
        scalar("reset_duration", 1, 11, 0, default=200),
        scalar("reset_fall_time", 2, 11, 0, default=5),
        scalar("reset_mode", 3, 0),
        scalar("select_voltage_right", 3, 1),
        scalar("select_voltage_left", 3, 2),
    ),
)

# --- CapMem ---------------------------------------------------------------------------------

CAPMEM_DISABLE_REFRESH = 1023

CAPMEM_CELL = Layout(
    "CapMemCell",
    1,
    (scalar("value", 0, 9, 0),),
    "Analog value 0..1022; 1023 = DisableRefresh.",
)

CAPMEM_BLOCK_CONFIG = Layout(
    "CapMemBlockConfig",
    10,
    (
        scalar("enable_capmem", 0, 0, default=1),
        scalar("enable_debug_readout", 0, 1),
        scalar("debug_readout_select_current", 0, 2),
        scalar("enable_boost", 0, 3),
        scalar("enable_autoboost", 0, 4),
        scalar("debug_readout_row", 1, 4, 0, maximum=23),
        scalar("debug_readout_column", 1, 15, 8, maximum=129),
        scalar("v_global_bias", 2, 3, 0, default=7),
        scalar("current_cell_res", 2, 9, 4, default=8),
        scalar("debug_out_amp_bias", 3, 3, 0, default=7),
        scalar("debug_source_follower_bias", 3, 7, 4, default=3),
        scalar("debug_level_shifter_bias", 3, 11, 8, default=3),
        scalar("sub_counter", 4, 15, 0, default=16),
        scalar("prescale_ramp", 5, 3, 0, default=3),
        scalar("prescale_pause", 5, 7, 4, default=3),
        scalar("pulse_a", 6, 15, 0, default=4),
        scalar("pulse_b", 7, 15, 0, default=7),
        scalar("boost_a", 8, 15, 0),
        scalar("boost_b", 8, 31, 16),
        scalar("pause_counter", 9, 31, 0, default=8096),
    ),
    "hxemu layout (field names and defaults from haldls): the debug readout routes the cell "
    "(debug_readout_column, debug_readout_row) to the block's debug output.",
)

# --- PPU -------------------------------------------------------------------------------------

PPU_MEMORY_WORD = Layout("PPUMemoryWord", 1, (scalar("value", 0, 31, 0),))

PPU_CONTROL_REGISTER = Layout(
    "PPUControlRegister",
    1,
    (
        scalar("inhibit_reset", 0, 0),
        scalar("force_clock_on", 0, 1),
        scalar("force_clock_off", 0, 2),
        scalar("cache_controller_enable", 0, 3),
    ),
)

PPU_STATUS_REGISTER = Layout(
    "PPUStatusRegister", 1, (scalar("sleep", 0, 0),),
    "hxemu layout: read-only, the PPU sleeps (idle)."
)

# --- MADC (hxemu layout) --------------------------------------------------------------------

MADC_CONFIG = Layout(
    "MADCConfig",
    3,
    (
        scalar("enable", 0, 0),
        scalar("readout_source", 0, 2, 1),
        scalar("neuron", 0, 12, 4, maximum=511),
        scalar("sample_period", 1, 15, 0, minimum=12, maximum=65535, default=12),
        scalar("number_of_samples", 2, 23, 0, default=1000),
    ),
    "hxemu layout: one-neuron MADC recording (neuron = AtomicNeuronOnDLS enum, period in "
    "FPGA cycles, at least 12: the MADC samples at most once per 12 clock cycles).",
)

MADC_CONTROL = Layout(
    "MADCControl",
    1,
    (scalar("start_recording", 0, 0), scalar("stop_recording", 0, 1)),
    "hxemu layout: write-only trigger that starts/stops a recording.",
)

# --- FPGA executor registers (docs/register-map.md) ------------------------------------------

TIMER_VALUE = Layout("Timer", 1, (scalar("value", 0, 31, 0),), "Timer readout (FPGA cycles).")
FPGA_DEVICE_DNA = Layout("FPGADeviceDNA", 1, (scalar("value", 0, 31, 0),))
EVENT_RECORDING_CONFIG = Layout(
    "EventRecordingConfig", 1, (scalar("enable_event_recording", 0, 0),),
    "hxemu layout: enables recording of events to the host.",
)
POLLING_OMNIBUS_BLOCK_CONFIG = Layout(
    "PollingOmnibusBlockConfig",
    3,
    (
        scalar("address", 0, 31, 0),
        scalar("target", 1, 31, 0),
        scalar("mask", 2, 31, 0, default=0xFFFFFFFF),
    ),
)
INSTRUCTION_TIMEOUT_CONFIG = Layout(
    "InstructionTimeoutConfig",
    1,
    (scalar("value", 0, 31, 0, default=125_000),),
    "hxemu default: a blocking instruction gives up after 1 ms (125000 cycles).",
)
OMNIBUS_WORD = Layout("OmnibusWord", 1, (scalar("value", 0, 31, 0),))
