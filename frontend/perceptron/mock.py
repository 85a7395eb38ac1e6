"""The mock model's parameters: `MockParameter` and the process-global value.

One global (noise_std, gain) pair steers (a) every mock-mode forward pass, (b) *every* backward
pass of a multiplication, mock or hardware (the gradient model is `gain * num_sends` times the
linear gradient), and (c) the initialisation and automatic `num_sends` of the nn layers. That
is why `get_mock_parameter` returns a copy: changing it has to go through `set_mock_parameter`.
"""

from __future__ import annotations

import math

from .._builtin import builtin
from . import constants


class MockParameter:
    """Gain (output LSB per activation x weight x send) and noise std (output LSB) of the mock.

    The positional order is `(noise_std, gain)`, as in hxtorch. No validation here (only
    `set_mock_parameter` checks the gain).
    """

    __slots__ = ("gain", "noise_std")

    def __init__(self, noise_std: float = constants.defaults.noise_std,
                 gain: float = constants.defaults.gain) -> None:
        self.noise_std = float(noise_std)
        self.gain = float(gain)

    def __repr__(self) -> str:
        # std::to_string(double) formatting, as in the C++ original
        return f"MockParameter(noise_std={self.noise_std:f}, gain={self.gain:f})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MockParameter):
            return NotImplemented
        return self.gain == other.gain and self.noise_std == other.noise_std

    __hash__ = None  # mutable, compared by value (no hash bound in hxtorch either)

    def __copy__(self) -> MockParameter:
        return MockParameter(self.noise_std, self.gain)

    def __reduce__(self):
        return (MockParameter, (self.noise_std, self.gain))


_parameter = MockParameter()


@builtin
def get_mock_parameter() -> MockParameter:
    """A copy of the global mock parameter (changing it does not change the global)."""
    return MockParameter(_parameter.noise_std, _parameter.gain)


@builtin
def set_mock_parameter(parameter: MockParameter) -> None:
    """Replace the global mock parameter.

    OverflowError unless 0 < gain <= 1 and 0 <= noise_std < inf (NaN is refused for both;
    the original checks only the gain, lets a NaN through, treats a negative noise std as no
    noise and saturates everything at an infinite one).
    """
    if not isinstance(parameter, MockParameter):
        raise TypeError(f"set_mock_parameter() takes a MockParameter, got "
                        f"{type(parameter).__name__}")
    if not 0 < parameter.gain <= 1:
        raise OverflowError(f"Gain is expected to be in the interval (0, 1] but was "
                            f"{parameter.gain:f}")
    if not (math.isfinite(parameter.noise_std) and parameter.noise_std >= 0):
        raise OverflowError(f"Noise std is expected to be finite and >= 0 but was "
                            f"{parameter.noise_std:f}")
    global _parameter
    _parameter = MockParameter(parameter.noise_std, parameter.gain)


def current() -> MockParameter:
    """The global parameter itself (for the operations; read only)."""
    return _parameter


__all__ = ["MockParameter", "get_mock_parameter", "set_mock_parameter"]
