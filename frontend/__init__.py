"""frontend: what users touch — the torch API (also importable as `hxtorch`) and the CLI.

It reaches the chip only through `driver`.
"""

__version__ = "0.1.0"
