"""The environment variables that choose the chip: one parser for every reader.

hxcomm picks a connection from the environment (the micro-scheduler "quiggeldy" first, else a
local chip; docs/server.md); hxemu adds the choice of the emulated chip and its temporal-noise
seed.
`driver.connection_from_env` and `hxtorch.init_hardware` both read them here, so a value means
the same everywhere:

- `QUIGGELDY_ENABLED`: an integer; non-zero selects the chip server (`hxemu serve`);
- `QUIGGELDY_IP`, `QUIGGELDY_PORT`: the server (both required when enabled; port 1..65535);
- `QUIGGELDY_TOKEN`, `QUIGGELDY_USER_NO_MUNGE`: optional login token and user name;
- `HXEMU_CHIP_ID`: the in-process chip, a non-negative int or `ideal` (default 0);
- `HXEMU_SEED`: its temporal-noise seed, a non-negative int (default: fresh randomness).

Integers are decimal or 0x-prefixed hexadecimal; surrounding blanks are ignored; an empty
variable counts as unset. A bad value is a ValueError that names the variable and the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hwlayer.regmap.chip_id import int_from_text, parse_chip_id

ENABLED = "QUIGGELDY_ENABLED"
IP = "QUIGGELDY_IP"
PORT = "QUIGGELDY_PORT"
TOKEN = "QUIGGELDY_TOKEN"
USER = "QUIGGELDY_USER_NO_MUNGE"
CHIP_ID = "HXEMU_CHIP_ID"
SEED = "HXEMU_SEED"
VARIABLES = (ENABLED, IP, PORT, TOKEN, USER, CHIP_ID, SEED)


@dataclass(frozen=True)
class RemoteTarget:
    """Where the chip server is, and who logs in (None: the server's defaults)."""

    host: str
    port: int
    token: str | None = None
    user: str | None = None


def _get(env: Mapping[str, str] | None, name: str) -> str:
    return (os.environ if env is None else env).get(name, "").strip()


def parse_int(text: str, name: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """`text` as an int (decimal or 0x...) within [minimum, maximum]; ValueError naming `name`."""
    try:
        value = int_from_text(text)
    except ValueError:
        value = None
    bounds = ("" if minimum is None and maximum is None else
              f" >= {minimum}" if maximum is None else f" in {minimum}..{maximum}")
    if value is None or (minimum is not None and value < minimum) or (
            maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer{bounds}, got {text!r}")
    return value


def check_seed(seed: object, name: str = "seed") -> int:
    """A temporal-noise seed given in code: a non-negative int (TypeError/ValueError naming
    `name`)."""
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{name} must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {seed}")
    return int(seed)


def chip_id_from_env(env: Mapping[str, str] | None = None) -> int | str:
    """HXEMU_CHIP_ID, default 0."""
    text = _get(env, CHIP_ID)
    return parse_chip_id(text, CHIP_ID) if text else 0


def seed_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """HXEMU_SEED, default None (fresh randomness)."""
    text = _get(env, SEED)
    return parse_int(text, SEED, minimum=0) if text else None


def remote_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment selects the chip server (QUIGGELDY_ENABLED a non-zero int)."""
    text = _get(env, ENABLED)
    return bool(text) and parse_int(text, ENABLED) != 0


def remote_from_env(env: Mapping[str, str] | None = None) -> RemoteTarget | None:
    """The chip server the environment selects, or None when QUIGGELDY_ENABLED is off."""
    if not remote_enabled(env):
        return None
    missing = [k for k in (IP, PORT) if not _get(env, k)]
    if missing:
        raise ValueError(f"{ENABLED}={_get(env, ENABLED)} but {' and '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} not set")
    return RemoteTarget(_get(env, IP), parse_int(_get(env, PORT), PORT, minimum=1,
                                                 maximum=65535),
                        token=_get(env, TOKEN) or None, user=_get(env, USER) or None)


__all__ = ["RemoteTarget", "VARIABLES", "check_seed", "chip_id_from_env", "parse_int",
           "remote_enabled", "remote_from_env", "seed_from_env"]
