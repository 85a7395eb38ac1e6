"""Defaults of the operations and of the mock model (hxtorch `constants.defaults`)."""

wait_between_events: int = 5  # FPGA clock cycles (125 MHz) between two events of one input row
gain: float = 0.002  # mock gain: output LSB per (activation x weight x send)
noise_std: float = 2.0  # mock noise standard deviation, output LSB

__all__ = ["gain", "noise_std", "wait_between_events"]
