"""Throughput of the emulated HAGEN multiply, against a plain-torch mock of the same formula.

Cases (inputs 0..31, weights -63..63, drawn once; wait_between_events 5):

  (a) full chip, 256 inputs x 256 outputs, batch 1000, num_sends 1, chip 0 in the base
      configuration (with its fixed pattern and temporal noise): MAC.run end to end
      (compile the program, run it, decode the results), best of --repeats after a warm-up;
  (b) the same shapes in plain torch on the CPU: floor((x @ W) * num_sends * gain + noise),
      clamped to int8 per 128-input chunk, chunks summed and clamped (the hxtorch mock;
      float32 GEMM, gain 0.002, Gaussian noise of std 2);
  (c) the same shapes on the ideal chip (checked against the exact integer formula);
  (d) the two Yin-Yang layer shapes, 606x4 @ 4x128 (num_sends 34) and 606x128 @ 128x15
      (num_sends 6), on chip 0 and in torch: time per call.

Multiply-accumulates are counted as batch x inputs x outputs (num_sends does not multiply
them). Times are for this machine; the ratios are the result. The modelled chip time is what
the real chip would need for the program (`MAC.chip_time_s`). Run:

    python benchmarks/bench_mac.py [--batch 1000] [--repeats 3] [--yinyang-batch 606]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from driver import EmulatorConnection
from driver.base_config import hagen_base_configuration
from driver.mac import MAC
from hwlayer.host import THREADS_ENV, host_threads

TARGET_GMACS = 1.0  # issue target for case (a), G MAC/s of the whole path
AIM_GMACS = 1.5
GAIN = 0.002
NOISE_STD = 2.0
WAIT = 5
CHUNK = 128  # inputs per tile, as on the chip and in the hxtorch mock


def connect(chip_id: int | str, seed: int, analog_path: str | None = None
            ) -> EmulatorConnection:
    """A connection to a chip in the HAGEN base configuration ("uncalibrated")."""
    connection = EmulatorConnection(chip_id, seed=seed, analog_path=analog_path)
    connection.run(hagen_base_configuration().to_program())
    return connection


def exact(x: np.ndarray, w: np.ndarray, num_sends: int) -> np.ndarray:
    """The ideal chip's formula: per 128-input chunk floor(ns x.W / 500), int8 sums."""
    out = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    for i0 in range(0, x.shape[1], CHUNK):
        s = num_sends * (x[:, i0:i0 + CHUNK] @ w[i0:i0 + CHUNK])
        out += np.clip(s // 500, -128, 127)
    return np.clip(out, -128, 127)


def torch_mock(x: torch.Tensor, w: torch.Tensor, num_sends: int,
               generator: torch.Generator) -> torch.Tensor:
    """hxtorch's mock forward: fp32 GEMM per chunk (exact on integers), scaled in float64."""
    out = torch.zeros(x.shape[0], w.shape[1], dtype=torch.float64)
    for i0 in range(0, x.shape[1], CHUNK):
        acc = (x[:, i0:i0 + CHUNK] @ w[i0:i0 + CHUNK]).double()
        noise = torch.randn(acc.shape, generator=generator) * NOISE_STD
        out += torch.floor(acc * (num_sends * GAIN) + noise).clamp_(-128, 127)
    return out.clamp_(-128, 127)


def best_time(fn, repeats: int) -> float:
    """Best wall-clock seconds of `fn()` over `repeats` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def case(connection, x: np.ndarray, w: np.ndarray, num_sends: int, repeats: int,
         seed: int) -> dict:
    """Time one shape on a chip and in the torch mock."""
    mac = MAC(w, num_sends=num_sends, wait_between_events=WAIT)
    result = {}

    def emulated():
        result["y"] = mac.run(x, connection)

    t_emu = best_time(emulated, repeats)
    xt = torch.from_numpy(x.astype(np.float32))
    wt = torch.from_numpy(w.astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    t_torch = best_time(lambda: torch_mock(xt, wt, num_sends, generator), repeats)
    macs = x.shape[0] * w.shape[0] * w.shape[1]
    return {"emulated_s": t_emu, "torch_s": t_torch, "macs": macs,
            "chip_s": mac.chip_time_s, "y": result["y"]}


def _g(macs: int, seconds: float) -> str:
    return f"{macs / seconds / 1e9:8.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1000, help="batch of cases (a)-(c)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per case (best counts)")
    p.add_argument("--yinyang-batch", type=int, default=606, help="batch of case (d)")
    p.add_argument("--chip-id", type=int, default=0, help="emulated chip of (a) and (d)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--analog-path", choices=("fast", "reference"), default=None,
                   help="the emulator's event loop (default: $HXEMU_ANALOG_PATH, else fast)")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the emulator runs on one core)")
    args = p.parse_args(argv)
    if min(args.batch, args.repeats, args.yinyang_batch, args.torch_threads) < 1:
        p.error("--batch, --repeats, --yinyang-batch and --torch-threads must be >= 1")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace) -> int:

    rng = np.random.default_rng(args.seed)
    w = rng.integers(-63, 64, (256, 256))
    x = rng.integers(0, 32, (args.batch, 256))
    chip = connect(args.chip_id, args.seed, args.analog_path)
    ideal = connect("ideal", args.seed, args.analog_path)

    full = case(chip, x, w, 1, args.repeats, args.seed)
    mac_ideal = MAC(w, num_sends=1, wait_between_events=WAIT)
    held = {}
    t_ideal = best_time(lambda: held.update(y=mac_ideal.run(x, ideal)), args.repeats)
    ideal_exact = bool((held["y"] == exact(x, w, 1)).all())
    yy = []
    for n_in, n_out, ns in ((4, 128, 34), (128, 15, 6)):
        wy = rng.integers(-63, 64, (n_in, n_out))
        xy = rng.integers(0, 32, (args.yinyang_batch, n_in))
        yy.append(((n_in, n_out, ns), case(chip, xy, wy, ns, args.repeats, args.seed)))

    macs = full["macs"]
    print("hxemu MAC benchmark: emulated HAGEN multiply vs. a plain-torch mock "
          "(times are for this machine; the ratios are the result)")
    print(f"host: {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} thread(s); emulator: {chip._chip.analog_path} event path, "
          f"{host_threads()} host thread(s) ({THREADS_ENV}); best of {args.repeats} after a "
          f"warm-up")
    print()
    head = f"{'case':<47}{'shape':<22}{'sends':>5}{'time [ms]':>11}{'G MAC/s':>9}"
    print(head)
    print("-" * len(head))
    shape = f"{args.batch}x256 @ 256x256"
    rows = [(f"(a) chip {args.chip_id}, base config, noise (MAC.run)", shape, 1,
             full["emulated_s"]),
            ("(b) torch mock (fp32 GEMM, noise std 2, CPU)", shape, 1, full["torch_s"]),
            ("(c) ideal chip (MAC.run)", shape, 1, t_ideal)]
    for label, sh, ns, t in rows:
        print(f"{label:<47}{sh:<22}{ns:>5}{1e3 * t:>11.2f}{_g(macs, t):>9}")
    for k, ((n_in, n_out, ns), r) in enumerate(yy, 1):
        sh = f"{args.yinyang_batch}x{n_in} @ {n_in}x{n_out}"
        label = f"(d{k}) Yin-Yang layer {k}, chip {args.chip_id}"
        print(f"{label:<47}{sh:<22}{ns:>5}"
              f"{1e3 * r['emulated_s']:>11.2f}{_g(r['macs'], r['emulated_s']):>9}")
        label = f"(d{k}) Yin-Yang layer {k}, torch mock"
        print(f"{label:<47}{sh:<22}{ns:>5}"
              f"{1e3 * r['torch_s']:>11.2f}{_g(r['macs'], r['torch_s']):>9}")
    print()
    print("ratios (time / time):")
    print(f"  (a) emulated / (b) torch mock      : {full['emulated_s'] / full['torch_s']:8.1f}x")
    print(f"  (c) ideal chip / (b) torch mock    : {t_ideal / full['torch_s']:8.1f}x")
    print(f"  (a) emulated / (c) ideal chip      : {full['emulated_s'] / t_ideal:8.2f}x")
    for k, (_, r) in enumerate(yy, 1):
        print(f"  (d{k}) emulated / torch mock         : "
              f"{r['emulated_s'] / r['torch_s']:8.1f}x")
    print()
    print("modelled chip time (MAC.chip_time_s, what the real chip would need):")
    print(f"  (a) {1e3 * full['chip_s']:9.3f} ms = {_g(macs, full['chip_s']).strip()} G MAC/s; "
          f"emulation / chip time = {full['emulated_s'] / full['chip_s']:.2f}x")
    for k, (_, r) in enumerate(yy, 1):
        print(f"  (d{k}) {1e3 * r['chip_s']:8.3f} ms per call; emulation / chip time = "
              f"{r['emulated_s'] / r['chip_s']:.2f}x")
    print()
    rate = macs / full["emulated_s"] / 1e9
    verdict = "meets" if rate >= TARGET_GMACS else "below"
    print(f"target (issue) for (a): >= {TARGET_GMACS:.1f} G MAC/s (aim {AIM_GMACS:.1f}); "
          f"measured {rate:.3f} G MAC/s: {verdict} target")
    print(f"ideal chip == exact integer formula: {ideal_exact}")
    return 0 if ideal_exact else 1


if __name__ == "__main__":
    sys.exit(main())
