"""Throughput of the torch frontend (hxtorch API) in mock and hardware mode.

Cases (inputs 0..31, weights -63..63, drawn once):

  (m) mock-mode `hxtorch.perceptron.matmul` against plain `torch.matmul` on the same float32
      tensors, for (606x128)@(128x256) and (8192x128)@(128x256), with noise_std 0 and with the
      default noise (std 2). Targets (issue): at most 2x (noise 0) and 3x (default noise).
      Both run on --torch-threads threads (the mock's integer GEMM is torch's; its numba
      kernels are serial).
  (h) hardware-mode `hxtorch.perceptron.mac` through the frontend on the emulated chip (chip 0,
      base configuration), batch 8192 on 256x256, against `driver.mac.MAC.run` on the same
      integer arrays: the difference is the frontend's overhead (conversions, checks, autograd),
      and against the plain-torch mock of benchmarks/bench_mac.py (fp32 GEMM, noise std 2) on
      the same shapes. Targets (issue): >= 1.0 G MAC/s; at most 4x the torch mock.
  (y) hardware-mode `nn.Linear` forward and backward per call for the Yin-Yang layer shapes,
      606x4 -> 128 and 606x128 -> 3 with avg 5 (automatic num_sends at gain 0.002: 34 and 6),
      next to the same layers in mock mode.

Times are best of --repeats after a warm-up, on this machine; the ratios are the result.
Multiply-accumulates are batch x inputs x outputs. Run:

    python benchmarks/bench_frontend.py [--repeats 5] [--hw-batch 8192] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import torch

import hxtorch
from driver.mac import MAC
from frontend import core
from hxtorch import perceptron as hxp

MOCK_TARGET = {0.0: 2.0, 2.0: 3.0}  # noise_std -> allowed time ratio against torch.matmul
HW_TARGET_GMACS = 1.0
HW_TARGET_MOCK_RATIO = 4.0  # hardware-mode mac against the plain-torch mock


def _bench_mac():
    """benchmarks/bench_mac.py as a module (its plain-torch mock is the reference of (h))."""
    spec = importlib.util.spec_from_file_location("bench_mac",
                                                  Path(__file__).with_name("bench_mac.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_time(fn, repeats: int) -> float:
    """Best wall-clock seconds of `fn()` over `repeats` calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved(fns: dict, repeats: int) -> dict:
    """Best time of each function, measured in alternation (fair under a noisy host)."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _mock_cases(x: torch.Tensor, w: torch.Tensor, device: str) -> dict:
    """Timed callables of one shape: torch.matmul and the mock at each noise level."""
    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def plain():
        torch.matmul(x, w)
        sync()

    def mock_at(noise: float):
        def mock():
            hxp.set_mock_parameter(hxp.MockParameter(noise_std=noise, gain=0.002))
            hxp.matmul(x, w, mock=True)
            sync()
        return mock

    return {"torch": plain, **{noise: mock_at(noise) for noise in MOCK_TARGET}}


def bench_mock(shapes, repeats: int, device: str) -> list[tuple]:
    rows = []
    g = torch.Generator().manual_seed(0)
    for batch, k, n in shapes:
        x = torch.randint(0, 32, (batch, k), generator=g).float().to(device)
        w = torch.randint(-63, 64, (k, n), generator=g).float().to(device)
        times = interleaved(_mock_cases(x, w, device), repeats)
        for noise in MOCK_TARGET:
            rows.append(((batch, k, n), noise, times["torch"], times[noise]))
    hxp.set_mock_parameter(hxp.MockParameter())
    return rows


def bench_hardware_mac(batch: int, repeats: int, chip_id) -> dict:
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 32, (batch, 256), generator=g).float()
    w = torch.randint(-63, 64, (256, 256), generator=g).float()
    xi, wi = x.long().numpy(), w.long().numpy()
    conn = core.connection()
    res = {}

    def driver_only():
        res["driver"] = MAC(wi, num_sends=1, wait_between_events=5).run(xi, conn)

    def frontend():
        res["frontend"] = hxp.mac(x, w)

    torch_mock = _bench_mac().torch_mock

    def plain_torch():
        res["torch"] = torch_mock(x, w, 1, g)

    times = interleaved({"driver": driver_only, "frontend": frontend, "torch": plain_torch},
                        repeats)
    macs = batch * 256 * 256
    return {"macs": macs, **times}


def _time_layer(layer: torch.nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Best forward and backward seconds of one layer on `x`."""
    out = {}

    def forward():
        out["y"] = layer(x)

    def backward():
        layer.zero_grad()
        out["y"].backward(torch.ones_like(out["y"]), retain_graph=True)

    return best_time(forward, repeats), best_time(backward, repeats)


def bench_linear(repeats: int) -> list[tuple]:
    torch.manual_seed(2)
    hxp.set_mock_parameter(hxp.MockParameter())
    rows = []
    for n_in, n_out, avg in ((4, 128, 1), (128, 3, 5)):
        x = (torch.rand(606, n_in) * 31).requires_grad_()
        layers = {mock: hxp.nn.Linear(n_in, n_out, avg=avg, mock=mock) for mock in (True, False)}
        layers[False].load_state_dict(layers[True].state_dict())
        for mock, layer in layers.items():
            t_fwd, t_bwd = _time_layer(layer, x, repeats)
            rows.append(((606, n_in, n_out, avg, layer.num_sends), mock, t_fwd, t_bwd))
    return rows


def check_ideal_equals_mock() -> bool:
    """The frontend's cross-check: ideal chip (hardware mode) == noise-free mock, bit for bit."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 32, (64, 300), generator=g).float()
    w = torch.randint(-63, 64, (300, 300), generator=g).float()
    hxtorch.init_hardware(chip_id="ideal")
    hxp.set_mock_parameter(hxp.MockParameter(noise_std=0, gain=0.002))
    try:
        return bool(torch.equal(hxp.matmul(x, w, num_sends=3),
                                hxp.matmul(x, w, num_sends=3, mock=True)))
    finally:
        hxp.set_mock_parameter(hxp.MockParameter())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed calls per case (best counts)")
    p.add_argument("--mock-batches", type=int, nargs="+", default=[606, 8192])
    p.add_argument("--hw-batch", type=int, default=8192, help="batch of case (h)")
    p.add_argument("--chip-id", type=int, default=0)
    p.add_argument("--seed", type=int, default=0, help="temporal noise seed of the chip")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the emulator runs on one core)")
    p.add_argument("--skip-linear", action="store_true", help="leave out case (y)")
    args = p.parse_args(argv)
    if min(args.repeats, args.hw_batch, args.torch_threads, *args.mock_batches) < 1:
        p.error("sizes, repeats and threads must be >= 1")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)
        hxtorch.release_hardware()


def _run(args: argparse.Namespace) -> int:
    print("hxemu frontend benchmark (hxtorch API): times are for this machine; the ratios are "
          "the result")
    print(f"host: {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} thread(s); best of {args.repeats} after a warm-up")
    print()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    shapes = [(b, 128, 256) for b in args.mock_batches]
    print(f"(m) mock-mode matmul vs torch.matmul (same float32 tensors; both on "
          f"{torch.get_num_threads()} torch thread(s), the mock's numba kernels serial)")
    head = f"  {'device':<7}{'shape':<22}{'noise':>6}{'torch [ms]':>12}{'mock [ms]':>11}" \
           f"{'ratio':>8}{'target':>8}"
    print(head)
    verdicts = []
    for device in devices:
        for (b, k, n), noise, t_torch, t_mock in bench_mock(shapes, args.repeats, device):
            ratio = t_mock / t_torch
            target = MOCK_TARGET[noise]
            if device == "cpu":
                verdicts.append((noise, ratio))
            print(f"  {device:<7}{f'({b}x{k})@({k}x{n})':<22}{noise:>6.1f}{1e3 * t_torch:>12.3f}"
                  f"{1e3 * t_mock:>11.3f}{ratio:>7.2f}x{f'<= {target:.0f}x':>8}")
    print()

    hxtorch.init_hardware(chip_id=args.chip_id, seed=args.seed)
    hw = bench_hardware_mac(args.hw_batch, max(1, min(args.repeats, 3)), args.chip_id)
    rate = hw["macs"] / hw["frontend"] / 1e9
    print(f"(h) hardware-mode mac, chip {args.chip_id} (base configuration), "
          f"batch {args.hw_batch} on 256x256")
    print(f"  driver MAC.run        : {1e3 * hw['driver']:9.1f} ms  "
          f"{hw['macs'] / hw['driver'] / 1e9:6.3f} G MAC/s")
    print(f"  frontend hxp.mac      : {1e3 * hw['frontend']:9.1f} ms  {rate:6.3f} G MAC/s")
    print(f"  frontend overhead     : {1e3 * (hw['frontend'] - hw['driver']):9.1f} ms "
          f"({100 * (hw['frontend'] / hw['driver'] - 1):+.1f} % of the driver's time)")
    ratio = hw["frontend"] / hw["torch"]
    print(f"  plain-torch mock      : {1e3 * hw['torch']:9.1f} ms  "
          f"{hw['macs'] / hw['torch'] / 1e9:6.3f} G MAC/s (fp32 GEMM, noise std 2)")
    verdict = "meets" if rate >= HW_TARGET_GMACS else "below"
    print(f"  target (issue): >= {HW_TARGET_GMACS:.1f} G MAC/s; measured {rate:.3f}: "
          f"{verdict} target")
    verdict = "meets" if ratio <= HW_TARGET_MOCK_RATIO else "misses"
    print(f"  hxp.mac / torch mock  : {ratio:9.1f}x (target <= {HW_TARGET_MOCK_RATIO:g}x): "
          f"{verdict} target")
    print()

    if not args.skip_linear:
        print(f"(y) nn.Linear per call, Yin-Yang layer shapes (hardware: chip {args.chip_id})")
        print(f"  {'layer':<34}{'mode':<10}{'forward [ms]':>14}{'backward [ms]':>15}")
        for (b, n_in, n_out, avg, ns), mock, t_f, t_b in bench_linear(args.repeats):
            label = f"{b}x{n_in} -> {n_out}" + (f", avg {avg}" if avg > 1 else "") + \
                f" (num_sends {ns})"
            print(f"  {label:<34}{'mock' if mock else 'hardware':<10}{1e3 * t_f:>14.3f}"
                  f"{1e3 * t_b:>15.3f}")
        print()

    ok = check_ideal_equals_mock()
    worst = {noise: max(r for n, r in verdicts if n == noise) for noise in MOCK_TARGET}
    met = all(worst[noise] <= MOCK_TARGET[noise] for noise in MOCK_TARGET)
    print(f"mock targets met (CPU): {met} (worst ratio " + ", ".join(
        f"{worst[noise]:.2f}x at noise {noise:g} (<= {MOCK_TARGET[noise]:g}x)"
        for noise in MOCK_TARGET) + ")")
    print(f"ideal chip (hardware mode) == mock (noise 0, gain 0.002): {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
