"""Value ranges of the HAGEN multiply (hxtorch `perceptron.constants`).

Weights are signed 6-bit (two synapse rows per logical row: excitatory and inhibitory),
activations 5-bit pulse lengths, results the int8 of the PPU's CADC difference; a synapse
array half has 128 logical rows (256 synapse rows / 2) and 256 columns.
"""

from . import defaults

synaptic_weight_min: int = -63
synaptic_weight_max: int = 63
input_activation_min: int = 0
input_activation_max: int = 31
output_activation_min: int = -128
output_activation_max: int = 127
hardware_matrix_height: int = 128
hardware_matrix_width: int = 256

__all__ = ["defaults", "hardware_matrix_height", "hardware_matrix_width",
           "input_activation_max", "input_activation_min", "output_activation_max",
           "output_activation_min", "synaptic_weight_max", "synaptic_weight_min"]
