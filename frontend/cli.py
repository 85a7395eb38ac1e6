"""The `hxemu` command line."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata

from driver import EmulatorConnection
from driver.info import chip_identity, register_regions


def _chip_id(text: str) -> int | str:
    if text == "ideal":
        return text
    try:
        value = int(text)
    except ValueError:
        msg = f"chip id must be an int or 'ideal', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"chip id must be non-negative, got {value}")
    return value


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cmd_info(args: argparse.Namespace) -> int:
    """Print the chip's identity, the versions and the register regions."""
    with EmulatorConnection(args.chip_id) as conn:
        ident = chip_identity(conn)
    print(f"hxemu {_version('hxemu')} - emulated BrainScaleS-2 (HICANN-X v3), HAGEN mode")
    print(f"chip id          : {args.chip_id}")
    print(f"JTAG IDCODE      : 0x{ident['jtag_idcode']:08x}")
    print(f"FPGA device DNA  : 0x{ident['fpga_device_dna']:08x}")
    print(f"FPGA clock       : {ident['fpga_clock_hz'] / 1e6:.0f} MHz")
    print("versions         : " + ", ".join(
        f"{d} {_version(d)}" for d in ("numpy", "numba", "torch", "bitstring"))
        + f", python {platform.python_version()}")
    regions = register_regions()
    print(f"\nregister regions ({len(regions)}):")
    print(f"  {'register':<30} {'instances':>9} {'words':>5}  {'addresses':<23} access")
    for r in regions:
        span = f"0x{r.first_address:08x}-0x{r.last_address:08x}"
        print(f"  {r.name:<30} {r.instances:>9} {r.words:>5}  {span:<23} {r.access}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hxemu", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="chip id, register regions, versions")
    info.add_argument("--chip-id", type=_chip_id, default=0, help="int or 'ideal' (default 0)")
    info.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `hxemu info | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
