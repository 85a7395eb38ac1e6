"""From register contents to analog-model parameters (numpy, run when the config changed).

The numba core never decodes register fields itself: whenever a program writes a register that
matters to the model, the executor pauses before the next analog action and `ModelParameters`
re-derives the affected arrays with the register map's own `Layout.decode`. The model
equations live here and in `analog.py`; docs/analog-model.md explains them.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

from hwlayer.regmap import REGISTERS
from hwlayer.regmap import capmem as cm
from hwlayer.regmap.layouts import CAPMEM_DISABLE_REFRESH
from hwlayer.regmap.registers import QUAD_ENTRY_COLUMN

from . import analog as A
from .identity import ChipIdentity
from .storage import (
    G_CADC,
    G_CAPMEM,
    G_MADC,
    G_NEURON,
    G_ROUTING,
    G_SYNAPSE,
    GROUP_OF_REGISTER,
    storage_map,
)

FPGA_CYCLES_PER_US = 125.0

# --- model constants (nominal operating point = the base configuration) -----------------------
G0 = 0.0035  # CapMem LSB of membrane per activation x weight at nominal settings
GM_NOMINAL = 450.0  # i_bias_synin_*_gm
TAU_SYN_NOMINAL_US = 0.32  # at i_bias_synin_*_tau = TAU_BIAS_NOMINAL
TAU_BIAS_NOMINAL = 400.0
TAU_INTEGRATION_US = 10.0  # charge of a synaptic input arrives with efficiency 1/(1+tau/this)
SYN_DAC_NOMINAL = 1022.0
HAGEN_DAC_BIAS_NOMINAL = 820.0
STP_RAMP_NOMINAL = 600.0
HAGEN_DAC_OFFSET_NOMINAL = 31
HAGEN_DAC_OFFSET_STEP = 0.3  # activation LSB per hagen_dac_offset LSB
DRIVER_OFFSET_NOMINAL = 7
DRIVER_OFFSET_STEP = 0.3  # activation LSB per `offset` LSB
PULSE_EXTENSION_STEP = 2.0  # activation LSB per dacen_pulse_extension step
LEAK_TAU_US = 10.0  # membrane time constant at i_bias_leak 1022, full capacitor
LEAK_DIVISION, LEAK_MULTIPLICATION = 0.25, 4.0
DRIFT_PER_SHIFT = 0.01  # CapMem LSB / us per LSB of reference-shift imbalance
SYNIN_REST = 350.0  # CapMem LSB: synaptic input line at rest
SYNIN_PER_SHIFT = 0.8
ADAPTATION_REST = 300.0
CADC_SLOPE_NOMINAL = 200.0 / 350.0  # CADC LSB per CapMem LSB at cadc_i_ramp_slope 350
CADC_SLOPE_BIAS_NOMINAL = 350.0
SMALL_CAP_OFF, HIGH_RES_ON = 0.8, 0.6


def _slots(name: str) -> np.ndarray:
    reg = REGISTERS[name]
    return storage_map().slot_of[name].reshape(reg.shape + (reg.layout.n_words,))


def _fields(storage: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """Decode every instance of register `name` into arrays shaped like its index space."""
    reg = REGISTERS[name]
    slots = _slots(name)
    words = storage[slots.reshape(-1, reg.layout.n_words)]
    out = {}
    for k, v in reg.layout.decode(words).items():
        f = reg.layout[k]
        out[k] = v.reshape(reg.shape + ((f.entries,) if f.entries > 1 else ()))
    return out


@cache
def _group_slots() -> dict[int, np.ndarray]:
    """Storage slots of the registers of each model group."""
    out: dict[int, list] = {}
    for name, group in GROUP_OF_REGISTER.items():
        out.setdefault(group, []).append(storage_map().slot_of[name].ravel())
    return {g: np.unique(np.concatenate(v)) for g, v in out.items()}


def _quad_to_columns(v: np.ndarray) -> np.ndarray:
    """(..., 64 quads, 4 entries) -> (..., 256 columns) with the hardware permutation."""
    out = np.empty(v.shape[:-2] + (256,), dtype=v.dtype)
    out[..., QUAD_ENTRY_COLUMN.ravel()] = v.reshape(v.shape[:-2] + (256,))
    return out


@njit(cache=True)
def _synapse_rows(weights, labels, exc_row, inh_row, sw_exc, sw_inh, en_exc, en_inh, g_exc,
                  g_inh, gain, ideal, Wrow_int, Wrow, Kint, K):
    """Per synapse row the signed weight it adds to each column (the ideal chip's integers and
    the analog chip's current, both through the row's mode, the column's current switches and
    the neuron's synaptic inputs), and per driver and address bit 5 the sum of its two rows
    whose label matches (HAGEN mode: label 0 or 32). One pass, in the operation order of the
    numpy expressions it replaced (same floats, bit for bit)."""
    for h in range(2):
        for r in range(256):
            er, ir = exc_row[h, r], inh_row[h, r]
            for c in range(256):
                w = weights[h, r, c]
                Wrow_int[h, r, c] = (er * sw_exc[h, c] * en_exc[h, c]
                                     - ir * sw_inh[h, c] * en_inh[h, c]) * w
                if not ideal:
                    line = er * sw_exc[h, c] * g_exc[h, c] - ir * sw_inh[h, c] * g_inh[h, c]
                    Wrow[h, r, c] = line * w * gain[h, r, c]
    for h in range(2):
        for b in range(2):
            for d in range(128):
                for c in range(256):
                    m0 = labels[h, 2 * d, c] == 32 * b
                    m1 = labels[h, 2 * d + 1, c] == 32 * b
                    Kint[h, b, d, c] = Wrow_int[h, 2 * d, c] * m0 + Wrow_int[h, 2 * d + 1, c] * m1
                    if not ideal:
                        # numpy's sum starts from +0.0 (so no -0.0 comes out)
                        K[h, b, d, c] = np.float32(0.0 + Wrow[h, 2 * d, c] * m0
                                                   + Wrow[h, 2 * d + 1, c] * m1)


class ModelParameters:
    """All arrays the numba core reads; refreshed in place from the register storage."""

    def __init__(self, identity: ChipIdentity) -> None:
        self.identity = identity
        self.ideal = identity.ideal
        self.neuron_f = np.zeros((A.NF_COUNT, 512))
        self.neuron_i = np.zeros((A.NI_COUNT, 512), dtype=np.int64)
        self.driver_f = np.zeros((A.DF_COUNT, 256))
        self.driver_i = np.zeros((A.DI_COUNT, 256), dtype=np.int64)
        self.padi = np.zeros((2, 4), dtype=np.int64)
        self.xbar = np.zeros((76, 2), dtype=np.int64)
        self.routes = np.zeros((2, 4, 32), dtype=np.int64)  # [h, bus, row select] -> drivers
        self.flags = np.zeros(1, dtype=np.int64)  # [0]: a receiving driver is not plain hagen
        self.K = np.zeros((2, 2, 128, 256), dtype=np.float32)  # the hot loop runs in float32
        self.v_inf32 = np.zeros(512, dtype=np.float32)
        self.Kint = np.zeros((2, 2, 128, 256), dtype=np.int32)  # |a x K| < 2**31: half the memory
        self.Wrow = np.zeros((2, 256, 256))
        self.Wrow_int = np.zeros((2, 256, 256), dtype=np.int64)
        self.labels = np.zeros((2, 256, 256), dtype=np.int64)
        self.channel_f = np.zeros((1, 1024))
        self.channel_i = np.zeros((A.CI_COUNT, 1024), dtype=np.int64)
        self.quad_f = np.zeros((4, A.QF_COUNT))
        self.hemi_f = np.zeros((2, A.HF_COUNT))
        self.cadc_kind = np.zeros(1024, dtype=np.int64)  # analog.cadc_sources
        self.cadc_v = np.zeros(1024)
        self.cadc_sigma = np.zeros(1024)
        self.madc = np.zeros(A.MC_COUNT, dtype=np.int64)
        self._gain_exc = np.zeros(512)
        self._gain_inh = np.zeros(512)
        self._snapshots: dict[int, np.ndarray] = {}

    def refresh(self, storage: np.ndarray, dirty: int) -> None:
        """Re-derive what depends on the register groups in `dirty`.

        A group whose register words equal those of the last refresh is skipped (programs
        often rewrite the same configuration, e.g. the MAC its weights for every batch).
        """
        for group, slots in _group_slots().items():
            if dirty & group:
                words = storage[slots]
                last = self._snapshots.get(group)
                if last is not None and np.array_equal(last, words):
                    dirty &= ~group
                else:
                    self._snapshots[group] = words
        if not dirty:
            return
        cells = None
        if dirty & (G_CAPMEM | G_NEURON | G_SYNAPSE | G_ROUTING | G_CADC):
            cells = _fields(storage, "CapMemCell")["value"].astype(np.float64)
            cells[cells == CAPMEM_DISABLE_REFRESH] = 0.0  # an unrefreshed cell discharges
        if dirty & (G_NEURON | G_CAPMEM):
            self._neurons(storage, cells)
        if dirty & (G_ROUTING | G_CAPMEM):
            self._drivers(storage, cells)
        if dirty & (G_SYNAPSE | G_ROUTING | G_NEURON | G_CAPMEM):
            self._synapses(storage, cells)
        if dirty & (G_CADC | G_CAPMEM | G_NEURON):
            self._cadc(storage, cells)
        if dirty & G_MADC:
            f = _fields(storage, "MADCConfig")
            self.madc[A.MC_ENABLE] = f["enable"]
            self.madc[A.MC_NEURON] = f["neuron"]
            self.madc[A.MC_SOURCE] = f["readout_source"]
            self.madc[A.MC_PERIOD] = f["sample_period"]
            self.madc[A.MC_SAMPLES] = f["number_of_samples"]

    # -- neurons ---------------------------------------------------------------------------

    def _neurons(self, storage: np.ndarray, cells: np.ndarray) -> None:
        idt = self.identity
        nc = _fields(storage, "NeuronConfig")
        nb = _fields(storage, "NeuronBackendConfig")
        cb = _fields(storage, "CommonNeuronBackendConfig")
        flat = {k: v.reshape(512) for k, v in nc.items()}
        # per-neuron CapMem cells: block = 2h + column // 128, column % 128
        h = np.repeat(np.arange(2), 256)
        c = np.tile(np.arange(256), 2)
        block, col = 2 * h + c // 128, c % 128

        def cell(name: str) -> np.ndarray:
            return cells[block, col, cm.NEURON_ROWS[name]]

        cap = (flat["membrane_capacitor_size"] + 1) / 64.0
        offset = idt.membrane_offset
        v_leak = cell("v_leak") + offset
        v_reset = cell("v_reset") + offset + idt.reset_offset
        leak_factor = np.where(flat["enable_leak_division"], LEAK_DIVISION, 1.0) * np.where(
            flat["enable_leak_multiplication"], LEAK_MULTIPLICATION, 1.0)
        lam_leak = cell("i_bias_leak") / 1022.0 * idt.leak * leak_factor / cap / (
            LEAK_TAU_US * FPGA_CYCLES_PER_US)
        lam_pseudo = 1.0 / (np.repeat(idt.pseudo_leak_tau_us, 256) * FPGA_CYCLES_PER_US)
        lam = lam_leak + lam_pseudo
        en_exc = flat["enable_synaptic_input_excitatory"].astype(np.float64)
        en_inh = flat["enable_synaptic_input_inhibitory"].astype(np.float64)
        shift_exc = cell("i_bias_synin_exc_shift") - idt.shift_zero_exc
        shift_inh = cell("i_bias_synin_inh_shift") - idt.shift_zero_inh
        drift = DRIFT_PER_SHIFT / FPGA_CYCLES_PER_US * (en_exc * shift_exc - en_inh * shift_inh)
        drift = drift / cap
        with np.errstate(divide="ignore", invalid="ignore"):
            v_inf = np.where(lam > 0, v_leak + drift / lam, v_leak)
        synin_exc = SYNIN_REST + SYNIN_PER_SHIFT * shift_exc + offset + idt.synin_offset
        synin_inh = SYNIN_REST + SYNIN_PER_SHIFT * shift_inh + offset + idt.synin_offset
        # readout_source 0..3 = membrane, exc_synin, inh_synin, adaptation (= READOUT_* codes)
        readout = np.where(flat["enable_readout_amplifier"] == 0, A.READOUT_FLOATING,
                           flat["readout_source"])
        # refractory time: fast or slow backend clock of the neuron's backend block
        refr = nb["refractory_time"].reshape(512)
        use_fast = nb["select_input_clock"].reshape(512)
        scale = np.where(use_fast, cb["clock_scale_fast"][c // 128],
                         cb["clock_scale_slow"][c // 128])
        refractory = np.maximum(1, refr * (2 ** (scale + 1)) // 2)
        reset_ok = flat["enable_fire"] & (cell("i_bias_reset") > 0)

        def gain(kind: str, gm_mm: np.ndarray, tau_mm: np.ndarray, en: np.ndarray) -> np.ndarray:
            gm = cell(f"i_bias_synin_{kind}_gm") / GM_NOMINAL * gm_mm
            tau_bias = np.maximum(cell(f"i_bias_synin_{kind}_tau"), 1.0)
            tau = TAU_SYN_NOMINAL_US * TAU_BIAS_NOMINAL / tau_bias * tau_mm
            eff = (1 + TAU_SYN_NOMINAL_US / TAU_INTEGRATION_US) / (1 + tau / TAU_INTEGRATION_US)
            small = np.where(flat[f"enable_synaptic_input_{full[kind]}_small_capacitance"],
                             1.0, SMALL_CAP_OFF)
            high = np.where(flat[f"enable_synaptic_input_{full[kind]}_high_resistance"],
                            HIGH_RES_ON, 1.0)
            spatial = 1 + np.repeat(idt.spatial_gradient, 256) * (c - 127.5) / 255.0
            return G0 * idt.chip_gain * gm * eff * small * high * en * spatial / cap

        full = {"exc": "excitatory", "inh": "inhibitory"}
        self._gain_exc = gain("exc", idt.gm_exc, idt.tau_exc, en_exc)
        self._gain_inh = gain("inh", idt.gm_inh, idt.tau_inh, en_inh)
        nf = self.neuron_f
        nf[A.NF_V_RESET] = v_reset
        nf[A.NF_V_INF] = v_inf
        self.v_inf32[:] = v_inf
        nf[A.NF_LAMBDA] = 0.0 if self.ideal else lam
        nf[A.NF_V_HI] = idt.v_high
        nf[A.NF_V_LO] = idt.v_low
        nf[A.NF_SIGMA] = idt.noise
        nf[A.NF_V_SYNIN_EXC] = synin_exc
        nf[A.NF_V_SYNIN_INH] = synin_inh
        nf[A.NF_V_ADAPT] = ADAPTATION_REST + offset
        ni = self.neuron_i
        ni[A.NI_READOUT] = readout
        ni[A.NI_REFRACTORY] = refractory
        ni[A.NI_RESET_OK] = reset_ok

    # -- synapse drivers, PADI, crossbar ------------------------------------------------------

    def _drivers(self, storage: np.ndarray, cells: np.ndarray) -> None:
        idt = self.identity
        sd = {k: v.reshape(256, *v.shape[2:]) for k, v in
              _fields(storage, "SynapseDriverConfig").items()}
        padi = _fields(storage, "CommonPADIBusConfig")
        xb = _fields(storage, "CrossbarNode")
        self.padi[:] = padi["enable_spl1"]
        self.xbar[:, 0] = xb["mask"]
        self.xbar[:, 1] = xb["target"]
        gd = np.arange(256)
        h, d = gd // 128, gd % 128
        quadrant = 2 * h + d % 2  # even drivers west, odd east
        ramp = (cells[quadrant, *cm.QUADRANT_CELLS["stp_i_ramp"]]
                + cells[quadrant, *cm.QUADRANT_CELLS["stp_i_calib"]]) / 2.0
        dac_bias = np.where(h == 0, cells[cm.SINGLE_CELLS["hagen_ibias_dac_top"]],
                            cells[cm.SINGLE_CELLS["hagen_ibias_dac_bottom"]])
        scale = (dac_bias / HAGEN_DAC_BIAS_NOMINAL) * (STP_RAMP_NOMINAL / np.maximum(ramp, 1.0))
        scale = scale * idt.stp_ramp[quadrant] * idt.pulse_gain
        act_offset = (idt.activation_offset
                      - HAGEN_DAC_OFFSET_STEP * (sd["hagen_dac_offset"] - HAGEN_DAC_OFFSET_NOMINAL)
                      + DRIVER_OFFSET_STEP * (sd["offset"] - DRIVER_OFFSET_NOMINAL))
        hagen = sd["enable_hagen_dac"] & sd["enable_stp"] & sd["enable_hagen_modulation"]
        extension = padi["dacen_pulse_extension"][h, d % 4] * PULSE_EXTENSION_STEP
        df, di = self.driver_f, self.driver_i
        df[A.DF_ACT_OFFSET] = 0.0 if self.ideal else act_offset
        df[A.DF_PULSE_SCALE] = 1.0 if self.ideal else scale
        df[A.DF_EXTENSION] = 0.0 if self.ideal else extension
        di[A.DI_RECEIVER] = sd["enable_receiver"]
        di[A.DI_MASK] = sd["row_address_compare_mask"]
        di[A.DI_ADDRESS_OUT] = sd["enable_address_out"]
        di[A.DI_HAGEN] = hagen
        general = (sd["enable_address_out"] != 0) | (hagen == 0)
        self.flags[0] = int(((sd["enable_receiver"] != 0) & general).any())
        # routes[h, bus, rs]: bit j = driver bus + 4 j accepts row select rs
        rs = np.arange(32)[:, None]
        j = np.arange(32)[None, :]
        for hh in range(2):
            for bus in range(4):
                gdrv = hh * 128 + bus + 4 * j  # (1, 32)
                m = sd["row_address_compare_mask"][gdrv]
                ok = (sd["enable_receiver"][gdrv] != 0) & ((rs & m) == (j & m))
                self.routes[hh, bus] = (ok.astype(np.int64) << j).sum(axis=1)
        self._row_modes = np.stack([sd["row_mode_bottom"], sd["row_mode_top"]], axis=-1)

    # -- synapses: the effective weight of every row onto every neuron ------------------------

    def _synapses(self, storage: np.ndarray, cells: np.ndarray) -> None:
        if not hasattr(self, "_row_modes"):
            self._drivers(storage, cells)
        idt = self.identity
        sq = _fields(storage, "SynapseQuad")
        weights = _quad_to_columns(sq["weights"]).astype(np.int64)  # (2, 256 rows, 256)
        self.labels[:] = _quad_to_columns(sq["labels"])
        cc = _fields(storage, "ColumnCurrentQuad")
        sw_exc = _quad_to_columns(cc["enable_synaptic_current_excitatory"])  # (2, 256)
        sw_inh = _quad_to_columns(cc["enable_synaptic_current_inhibitory"])
        # row mode per row: driver d has rows 2d (bottom) and 2d + 1 (top)
        modes = self._row_modes.reshape(2, 256)  # [h, 2d + top]
        exc_row = (modes & 1).astype(np.int64)
        inh_row = ((modes >> 1) & 1).astype(np.int64)
        nc = _fields(storage, "NeuronConfig")
        en_exc = nc["enable_synaptic_input_excitatory"].astype(np.int64).reshape(2, 256)
        en_inh = nc["enable_synaptic_input_inhibitory"].astype(np.int64).reshape(2, 256)
        g_exc = g_inh = np.zeros((2, 256))
        gain = np.zeros((1, 1, 1))
        if not self.ideal:
            h = np.arange(2)[:, None]
            c = np.arange(256)[None, :]
            quadrant = 2 * h + c // 128
            dac = cells[quadrant, *cm.QUADRANT_CELLS["syn_i_bias_dac"]] / SYN_DAC_NOMINAL
            dac = dac * idt.syn_dac[quadrant]  # (2, 256)
            g_exc = self._gain_exc.reshape(2, 256) * dac
            g_inh = self._gain_inh.reshape(2, 256) * dac
            gain = idt.synapse_gain
        _synapse_rows(weights, self.labels, exc_row, inh_row, sw_exc.astype(np.int64),
                      sw_inh.astype(np.int64), en_exc, en_inh, g_exc, g_inh, gain, self.ideal,
                      self.Wrow_int, self.Wrow, self.Kint, self.K)

    # -- CADC -----------------------------------------------------------------------------------

    def _cadc(self, storage: np.ndarray, cells: np.ndarray) -> None:
        idt = self.identity
        cfg = _fields(storage, "CADCConfig")
        ch = _fields(storage, "CADCChannelConfig")  # (2, 2 types, 256)
        corr = _fields(storage, "ColumnCorrelationQuad")
        dbg = _fields(storage, "CADCDebugLineConfig")
        block_cfg = _fields(storage, "CapMemBlockConfig")
        # the neuron reaches a channel through the internal and the readout switch
        neuron = np.stack([_quad_to_columns(corr["enable_cadc_neuron_readout_causal"]
                                            & corr["enable_internal_causal"]),
                           _quad_to_columns(corr["enable_cadc_neuron_readout_acausal"]
                                            & corr["enable_internal_acausal"])], 1)
        debug = np.stack([_quad_to_columns(corr["enable_debug_causal"]),
                          _quad_to_columns(corr["enable_debug_acausal"])], 1)
        mode = np.where(debug != 0, A.CHANNEL_DEBUG,
                        np.where(neuron != 0, A.CHANNEL_NEURON, A.CHANNEL_FLOATING))
        self.channel_i[A.CI_MODE] = mode.reshape(1024)
        self.channel_i[A.CI_DIGITAL_OFFSET] = ch["offset"].reshape(1024)
        self.channel_f[0] = 0.0 if self.ideal else idt.comparator_offset
        q = np.arange(4)
        v0 = cells[q, *cm.QUADRANT_CELLS["cadc_v_ramp_offset"]] + idt.cadc_offset
        slope_bias = np.maximum(cells[q, *cm.QUADRANT_CELLS["cadc_i_ramp_slope"]], 1.0)
        slope = CADC_SLOPE_NOMINAL * CADC_SLOPE_BIAS_NOMINAL / slope_bias * idt.cadc_slope
        self.quad_f[:, A.QF_V0] = v0
        self.quad_f[:, A.QF_SLOPE] = slope
        self.hemi_f[:, A.HF_CADC_ENABLE] = cfg["enable"]
        for h in range(2):
            blk = int(dbg["capmem_block"][h])
            on = dbg["enable"][h] and block_cfg["enable_debug_readout"][blk]
            if on:
                row = int(block_cfg["debug_readout_row"][blk])
                column = int(block_cfg["debug_readout_column"][blk])
                v = cells[blk, column, row] * idt.capmem_debug_gain[blk]
            else:
                v = 1e9  # an undriven debug line floats high: the ramp never crosses it
            self.hemi_f[h, A.HF_DEBUG_V] = v
        sources = A.cadc_sources(self.channel_i, self.neuron_f, self.neuron_i, self.hemi_f)
        for held, new in zip((self.cadc_kind, self.cadc_v, self.cadc_sigma), sources):
            held[:] = new
