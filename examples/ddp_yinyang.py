"""Data-parallel hardware-in-the-loop training of the Yin-Yang model on several emulated chips.

Each rank owns its own chip (chip id = --chip-base + rank, or the chip server named for it in
--servers), runs the forward passes on it and DistributedDataParallel (gloo) all-reduces the
gradients. On one machine:

    torchrun --nproc-per-node 2 examples/ddp_yinyang.py --out ddp.json

On several machines (one chip server or emulator per rank), e.g. two nodes with two ranks each:

    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 2 --master-addr HOST --master-port 29500 \\
        examples/ddp_yinyang.py --chip-base 0
    torchrun --nnodes 2 --node-rank 1 --nproc-per-node 2 --master-addr HOST --master-port 29500 \\
        examples/ddp_yinyang.py --chip-base 0

Without torchrun (no RANK / WORLD_SIZE in the environment) it trains on one chip.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import torch
import torch.distributed as dist

import hxtorch
from hxtorch import perceptron as hxp
from hxtorch.datasets import YinYangDataset, canonical_split
from hxtorch.yinyang.run import Model  # the tutorial's model


def _train(model, ddp_model, data, steps: int, batch: int, lr: float, gamma: float,
           step_size: int) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    for _ in range(steps):
        x, y = data.draw(batch)
        loss = torch.nn.functional.cross_entropy(ddp_model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def accuracy(model: torch.nn.Module) -> float:
    x, y = canonical_split("test")
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def run(args: argparse.Namespace) -> dict:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")
    servers = args.servers.split(",") if args.servers else []
    if servers:  # a chip server per rank
        host, port = servers[rank % len(servers)].rsplit(":", 1)
        os.environ.update(QUIGGELDY_ENABLED="1", QUIGGELDY_IP=host, QUIGGELDY_PORT=port)
        chip = None
    else:
        chip = args.chip_base + rank
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # calibration range diagnostics of the default chips
        hxtorch.init_hardware(ann=not args.uncalibrated, chip_id=chip, seed=args.seed + rank)
    torch.manual_seed(args.seed + 1000 * rank)
    parameter = hxp.measure_mock_parameter()  # this rank's chip
    hxp.set_mock_parameter(parameter)
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    data = YinYangDataset(seed=args.seed * 1000 + rank)
    per_rank = max(1, args.batch // world)

    def wrap(m):
        return torch.nn.parallel.DistributedDataParallel(m) if world > 1 else m

    mock = Model(mock=True)
    _train(mock, wrap(mock), data, args.mock_steps, per_rank, lr=args.mock_lr, gamma=0.99,
           step_size=1)
    acc_mock = accuracy(mock)
    hw = Model(mock=False)
    hw.load_state_dict(mock.state_dict())
    acc_transfer = accuracy(hw)
    _train(hw, wrap(hw), data, args.hw_steps, per_rank, lr=args.hw_lr, gamma=0.9,
           step_size=max(1, args.hw_steps // 15))
    acc_hw = accuracy(hw)
    result = {"rank": rank, "world_size": world, "chip_id": chip if chip is not None else
              hxtorch.get_unique_identifier()[0], "gain": parameter.gain,
              "noise_std": parameter.noise_std, "accuracy_mock": acc_mock,
              "accuracy_transfer": acc_transfer, "accuracy_hardware": acc_hw,
              "wall_time_s": time.perf_counter() - t0}
    hxtorch.release_hardware()
    if world > 1:
        gathered = [None] * world
        dist.all_gather_object(gathered, result)
        dist.barrier()  # every rank is done with gloo before any tears it down
        dist.destroy_process_group()
    else:
        gathered = [result]
    return {"ranks": gathered, "accuracy_hardware_mean":
            sum(r["accuracy_hardware"] for r in gathered) / len(gathered)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chip-base", type=int, default=0, help="rank r uses chip base + r")
    p.add_argument("--servers", default="", help="host:port,... chip servers, one per rank")
    p.add_argument("--uncalibrated", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=350, help="global batch (split over ranks)")
    p.add_argument("--mock-steps", type=int, default=201)
    p.add_argument("--hw-steps", type=int, default=15)
    p.add_argument("--mock-lr", type=float, default=1.0)
    p.add_argument("--hw-lr", type=float, default=0.2)
    p.add_argument("--out", default="", help="write the result JSON here (rank 0)")
    args = p.parse_args(argv)
    result = run(args)
    if int(os.environ.get("RANK", "0")) == 0:
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
