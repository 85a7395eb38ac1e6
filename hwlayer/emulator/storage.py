"""The emulator's register storage: the register map's slot table (`hwlayer.regmap.storage`)
plus which analog-model group each register belongs to."""

from __future__ import annotations

from functools import cache

import numpy as np

from hwlayer.regmap.storage import (
    ACCESS_RO,
    ACCESS_WO,
    BEHAVIOUR,
    REGISTER_NAMES,
    StorageMap,
    storage_map,
)

# model groups: a write to a register of a group makes the analog model re-derive what
# depends on it before its next action (configuration.py)
G_SYNAPSE, G_ROUTING, G_NEURON, G_CAPMEM, G_CADC, G_MADC = (1 << i for i in range(6))
ALL_GROUPS = G_SYNAPSE | G_ROUTING | G_NEURON | G_CAPMEM | G_CADC | G_MADC
GROUP_OF_REGISTER = {
    "SynapseQuad": G_SYNAPSE, "SynapseWeightQuad": G_SYNAPSE, "SynapseLabelQuad": G_SYNAPSE,
    "SynapseCorrelationCalibQuad": G_SYNAPSE, "ColumnCurrentQuad": G_SYNAPSE,
    "SynapseDriverConfig": G_ROUTING, "CommonPADIBusConfig": G_ROUTING,
    "CommonSTPConfig": G_ROUTING, "CrossbarNode": G_ROUTING,
    "NeuronConfig": G_NEURON, "NeuronBackendConfig": G_NEURON,
    "CommonNeuronBackendConfig": G_NEURON,
    "CapMemCell": G_CAPMEM, "CapMemBlockConfig": G_CAPMEM,
    "CADCConfig": G_CADC, "CADCChannelConfig": G_CADC, "ColumnCorrelationQuad": G_CADC,
    "CADCDebugLineConfig": G_CADC,
    "MADCConfig": G_MADC,
}


@cache
def run_groups() -> np.ndarray:
    """The model group bits a write to each run of `storage_map()` dirties."""
    groups = np.array([GROUP_OF_REGISTER.get(n, 0) for n in REGISTER_NAMES], dtype=np.int64)
    return groups[storage_map().run_register]


__all__ = ["ACCESS_RO", "ACCESS_WO", "ALL_GROUPS", "BEHAVIOUR", "GROUP_OF_REGISTER",
           "StorageMap", "run_groups", "storage_map"]
