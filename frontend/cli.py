"""The `hxemu` command line."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections import Counter
from importlib import metadata

from driver import EmulatorConnection
from driver.arguments import chip_id_argument, non_negative_argument
from driver.cocolist_file import (
    CocolistFileError,
    FieldChange,
    check_writable,
    cocolist_to_json,
    diff_cocolists,
    encode_cocolist,
    load_cocolist,
    save_or_keep,
)
from driver.info import chip_identity, register_regions
from driver.server import add_arguments as add_serve_arguments
from driver.server import config_from_args, serve

from .yinyang import add_arguments as yinyang_arguments


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


def _entry_line(coord, item) -> str:
    return f"{coord!r}  {item!r}"


def cmd_cocolist_show(args: argparse.Namespace) -> int:
    """Print a cocolist file: metadata, entries per container type, then every entry."""
    cc, meta = load_cocolist(args.file)
    if args.json:
        sys.stdout.write(cocolist_to_json(cc, meta))
        return 0
    print(f"file     : {args.file} ({os.path.getsize(args.file)} bytes)")
    print("metadata :")
    width = max((len(k) for k in meta), default=0)
    for k in sorted(meta):
        print(f"  {k:<{width}} : {meta[k]!r}" if not isinstance(meta[k], str)
              else f"  {k:<{width}} : {meta[k]}")
    counts = Counter(type(item).__qualname__ for _, item in cc)
    print(f"entries  : {len(cc)}")
    width = max((len(k) for k in counts), default=0)
    for name in sorted(counts):
        print(f"  {name:<{width}} {counts[name]:>7}")
    print()
    digits = len(str(max(len(cc) - 1, 0)))
    for i, (coord, item) in enumerate(cc):
        print(f"{i:>{digits}}  {_entry_line(coord, item)}")
    return 0


def _change_text(ch: FieldChange) -> str:
    if ch.index is not None:
        where = "[" + ", ".join(map(str, ch.index)) + "]"
        more = f" ({ch.count} values differ)" if ch.count > 1 else ""
        return f"{ch.name}{where}: {ch.old} -> {ch.new}{more}"
    return f"{ch.name}: {ch.old} -> {ch.new}"


def cmd_cocolist_diff(args: argparse.Namespace) -> int:
    """Compare two cocolist files after squash; exit 0 if equal, 1 if they differ (also when
    the reader of the output stops early, as `| head` does)."""
    a, _ = load_cocolist(args.a)
    b, _ = load_cocolist(args.b)
    d = diff_cocolists(a, b)
    try:
        _print_diff(args, a, b, d)
    except BrokenPipeError:
        _silence_stdout()
    return 1 if d else 0


def _print_diff(args: argparse.Namespace, a, b, d) -> None:
    print(f"--- {args.a} ({len(a)} entries)")
    print(f"+++ {args.b} ({len(b)} entries)")
    for coord, item in d.removed:
        print(f"- {_entry_line(coord, item)}")
    for coord, item in d.added:
        print(f"+ {_entry_line(coord, item)}")
    for coord, _old, _new, changes in d.changed:
        print(f"~ {coord!r}")
        for ch in changes:
            print(f"    {_change_text(ch)}")
    if not d:
        print("no differences after squash (waits are not compared)")
        return
    print(f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed "
          "(after squash)")
    sys.stdout.flush()  # a closed pipe shows here, inside the BrokenPipeError handler


def _silence_stdout() -> None:
    """The reader of stdout went away: drop what is still buffered (no second error at exit)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


SUMMARY_ROWS = (
    ("per-neuron gain CV", "gain_cv", "{:.1%}", "<= 3 %"),
    ("gain, chip median", "gain_median", "{:.4f}", "0.0015-0.0035"),
    ("resting read, median", "resting_read_median", "{:.1f}", "120"),
    ("resting read, std", "resting_read_std", "{:.2f}", ""),
    ("resting read within 120 +- 2", "resting_within_2", "{:.0%}", ">= 95 %"),
    ("driver mismatch (LSB)", "driver_mismatch", "{:.2f}", "< 2"),
)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Calibrate a chip for HAGEN mode and write the cocolist (.pbin) file."""
    from tqdm import tqdm

    from driver.calibration import calibrate

    if args.chip_id == "ideal":
        raise ValueError("the ideal chip has no mismatch: there is nothing to calibrate")
    check_writable(args.output)  # before minutes of work, not after
    with EmulatorConnection(args.chip_id, seed=args.seed) as conn, \
            tqdm(total=10, desc="calibrating", unit="step", file=sys.stderr,
                 disable=args.quiet) as bar:
        def progress(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)

        result = calibrate(conn, progress=progress)
        bar.update(bar.total - bar.n)
        save_or_keep(args.output, encode_cocolist(result.to_cocolist(), {
            "chip_id": args.chip_id, "model_version": conn.model_version, "kind": "hagen",
            "seed": args.seed, "summary": result.summary,
            "wall_time_s": round(result.wall_time_s, 2)}), "calibration")
    before, after = result.summary["before"], result.summary["after"]
    print(f"calibrated chip {args.chip_id} in {result.wall_time_s:.1f} s -> {args.output}")
    print(f"  {'property':<30} {'before':>10} {'after':>10}  target")
    for label, key, fmt, goal in SUMMARY_ROWS:
        print(f"  {label:<30} {fmt.format(before[key]):>10} {fmt.format(after[key]):>10}  "
              f"{goal}")
    failed = {k: int((~v).sum()) for k, v in result.success.items() if (~v).any()}
    if failed:
        print("  instances off their target (range limit or measurement tolerance): "
              + ", ".join(f"{k} {n}" for k, n in failed.items()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one emulated chip to many clients over TCP until SIGINT/SIGTERM."""
    return serve(config_from_args(args))


def cmd_yinyang(args: argparse.Namespace) -> int:
    """The main job: the Yin-Yang hardware-in-the-loop tutorial (docs/yinyang.md)."""
    from pathlib import Path

    from .yinyang import run_from_args

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"cannot write to {out}: it is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out / "summary.json")  # before the training, not after
    run_from_args(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hxemu", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="chip id, register regions, versions")
    info.add_argument("--chip-id", type=chip_id_argument, default=0,
                      help="int or 'ideal' (default 0)")
    info.set_defaults(func=cmd_info)
    coco = sub.add_parser("cocolist", help="show or compare cocolist (.pbin) files")
    csub = coco.add_subparsers(dest="cocolist_command", required=True)
    show = csub.add_parser("show", help="metadata, entries per type and every entry")
    show.add_argument("file", help="a .pbin cocolist file")
    show.add_argument("--json", action="store_true", help="print the JSON view instead")
    show.set_defaults(func=cmd_cocolist_show)
    diff = csub.add_parser(
        "diff", help="writes that differ after squash (exit 0: equal, 1: different)",
        description="Compare the squashed writes (last write per coordinate) of two cocolist "
                    "files: added, removed and changed entries with their field differences. "
                    "Waits are not compared. Exit code 0: equal, 1: different, 2: error.")
    diff.add_argument("a", help="the old .pbin file")
    diff.add_argument("b", help="the new .pbin file")
    diff.set_defaults(func=cmd_cocolist_diff)
    cal = sub.add_parser("calibrate", help="calibrate a chip for HAGEN mode, write a .pbin")
    cal.add_argument("--chip-id", type=chip_id_argument, default=0, help="int (default 0)")
    cal.add_argument("-o", "--output", default="hagen_cocolist.pbin", help="the .pbin to write")
    cal.add_argument("--seed", type=non_negative_argument, default=None, help="temporal noise seed")
    cal.add_argument("--quiet", action="store_true", help="no progress bar")
    cal.set_defaults(func=cmd_calibrate)
    yy = sub.add_parser(
        "yinyang", help="the main job: train the Yin-Yang tutorial's model on the emulated chip",
        description="The Yin-Yang hardware-in-the-loop tutorial end to end: calibration, mock "
                    "parameters, mock phase, transfer onto the chip, hardware phase; figures "
                    "and summary.json in the output folder (docs/yinyang.md).")
    yinyang_arguments(yy)
    yy.set_defaults(func=cmd_yinyang)
    srv = sub.add_parser(
        "serve", help="serve one emulated chip to many clients over TCP (docs/server.md)",
        description="Serve one emulated chip over TCP: users take turns round robin, each "
                    "client sees only its own configuration. Prints the address it listens "
                    "on; logs one line per client to stderr; stops on SIGINT/SIGTERM.")
    add_serve_arguments(srv)
    srv.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: one line; files are written atomically or not at all
        print(f"\n{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `hxemu info | head`
        _silence_stdout()
        return 0
    except (CocolistFileError, ValueError, OSError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
