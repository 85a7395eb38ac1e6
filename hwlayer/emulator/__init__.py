"""The emulated chip. `Chip` is the entry point; everything else here is internal."""

from .chip import Chip, ExecutionResult, ProgramError

__all__ = ["Chip", "ExecutionResult", "ProgramError"]
