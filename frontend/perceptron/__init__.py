"""`hxtorch.perceptron` (alias `hxtorch.ann`): the non-spiking HAGEN-mode API.

Every multiplying operation has a mock mode (`mock=True`: the software model with the global
`MockParameter`, pure torch on any device) and a hardware mode (the emulated chip behind the
connection of `hxtorch.init_hardware`, through `driver`). Layers are in `nn`.
"""

from . import constants, nn
from .conv import conv1d, conv2d, expanded_conv1d
from .digital import add, argmax, converting_relu, relu
from .measure import measure_mock_parameter
from .mock import MockParameter, get_mock_parameter, set_mock_parameter
from .multiply import mac, matmul
from .tracer import InferenceTracer, inference_trace

__all__ = ["InferenceTracer", "MockParameter", "add", "argmax", "constants", "conv1d",
           "conv2d", "converting_relu", "expanded_conv1d", "get_mock_parameter",
           "inference_trace", "mac", "matmul", "measure_mock_parameter", "nn", "relu",
           "set_mock_parameter"]
