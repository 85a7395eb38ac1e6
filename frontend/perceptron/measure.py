"""`measure_mock_parameter`: the gain and noise of the connected chip, for the mock model.

The exact algorithm of hxtorch, on hardware-mode `matmul`: find an input density
that puts the median output near 63.5, then compare 50 such random inputs with the exact
product. The inputs are 15.5, which hardware mode sends as 16 (lround) while the reference
uses 15.5, so a perfectly linear chip with gain g reports about g * 32 / 31 (less the floor's
bias of about half an LSB per 128-row chunk). Uses torch's global random generator.
"""

from __future__ import annotations

import torch

from .. import logger
from .._builtin import builtin
from . import constants
from .mock import MockParameter
from .multiply import matmul

INPUT_VALUE = constants.input_activation_max / 2  # 15.5
WEIGHT_VALUE = constants.synaptic_weight_max / 3  # 21
TARGET_OUTPUT = constants.output_activation_max / 2  # 63.5
MASKING_FACTOR = 0.85
NUM_STEPS = 20
BATCH_SIZE = 50
ROWS = constants.hardware_matrix_width  # 256 inputs (two 128-row chunks)
COLUMNS = constants.hardware_matrix_height  # 128 outputs


@builtin
def measure_mock_parameter() -> MockParameter:
    """Measure gain and noise std of the chip behind the global connection (hardware mode,
    num_sends 1, wait_between_events 5). Does not set the global mock parameter."""
    full_weight = torch.full((ROWS, COLUMNS), WEIGHT_VALUE)
    densities = torch.tensor([MASKING_FACTOR ** i for i in range(NUM_STEPS)])
    test_input = (torch.rand(NUM_STEPS, ROWS) < densities[:, None]) * INPUT_VALUE
    test_result = matmul(test_input, full_weight, 1, 5)
    best_idx = int(torch.argmin(torch.abs(torch.median(test_result, dim=1).values
                                          - TARGET_OUTPUT)))
    optimal_input = (torch.rand(BATCH_SIZE, ROWS) < MASKING_FACTOR ** best_idx) * INPUT_VALUE
    result_torch = torch.matmul(optimal_input, full_weight)
    result_hxtorch = matmul(optimal_input, full_weight, 1, 5)
    gain = torch.median((result_hxtorch / result_torch).flatten()).item()
    noise = result_hxtorch - result_torch * gain
    noise_std = torch.median(torch.std(noise, dim=0, unbiased=True)).item()
    logger.get("hxtorch.perceptron.measure_mock_parameter").INFO(
        f"Obtained gain={gain}, noise_std={noise_std} at output="
        f"{int(torch.median(result_hxtorch).item())}")
    return MockParameter(noise_std, gain)


__all__ = ["measure_mock_parameter"]
