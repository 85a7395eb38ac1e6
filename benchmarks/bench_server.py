"""Throughput and fairness of the chip server (driver/server.py) on loopback.

(a) instruction words per second of one program, through a `RemoteConnection` against an
    in-process `EmulatorConnection` of the same chip (and pipelined: several programs in
    flight);
(b) MAC programs per second (128 x 256 weights; batch 1 and a larger batch), remote against
    in-process;
(c) the cost of a user switch: two users with different weights alternating;
(d) fairness: user A submits 50 programs at once, then user B 5; the order the chip ran them
    in (from their start cycles) shows B's interleaved with A's, not after all of A's.

    python benchmarks/bench_server.py [--words 1000000] [--repeats 3] [--batch 100]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np

from driver import EmulatorConnection, PlaybackProgramBuilder, RemoteConnection
from driver import instructions as ins
from driver.base_config import hagen_base_configuration
from driver.mac import MAC
from driver.server import LocalServer
from hwlayer.regmap import instructions as isa

HALT = np.array([isa.HALT_WORD], dtype=np.uint64)
SYNAPSE_RAW = 0x2CF0000  # SynapseQuad words of hemisphere 0 (raw, 32768 of them)


def words_program(n_words: int, seed: int = 0):
    """About n_words: synapse writes (3/4) and read-backs (1/4, one response each)."""
    rng = np.random.default_rng(seed)
    n_write = (3 * n_words // 4) // 2
    addr = SYNAPSE_RAW + rng.integers(0, 32768, n_write)
    b = PlaybackProgramBuilder()
    b.append_words(ins.omnibus_write(addr, rng.integers(0, 2**32, n_write)))
    n_read = n_words - 2 * n_write
    b.read_omnibus(SYNAPSE_RAW + rng.integers(0, 32768, n_read))
    return b.done()


def best(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_words(local, remote, n_words: int, repeats: int) -> None:
    prog = words_program(n_words)
    n = prog.words.size + 1
    local.run(prog)
    remote.run(prog)
    t_local = best(lambda: local.run(prog), repeats)
    t_remote = best(lambda: remote.run(prog), repeats)
    pieces = [np.concatenate([words_program(n_words // 8, s).words, HALT]) for s in range(8)]
    m = sum(p.size for p in pieces)
    t_local_many = best(lambda: [local.execute_words(p) for p in pieces], repeats)
    t_remote_many = best(lambda: remote.execute_many(pieces), repeats)
    print(f"(a) words/s, one {n}-word program : in-process {n / t_local / 1e6:7.2f} M/s   "
          f"remote {n / t_remote / 1e6:7.2f} M/s   ratio {t_local / t_remote:.2f}")
    print(f"    8 programs of {pieces[0].size} words, pipelined: in-process "
          f"{m / t_local_many / 1e6:7.2f} M/s   remote {m / t_remote_many / 1e6:7.2f} M/s   "
          f"ratio {t_local_many / t_remote_many:.2f}")


def bench_macs(local, remote, batch: int, repeats: int) -> None:
    rng = np.random.default_rng(1)
    w = rng.integers(-63, 64, (128, 256))
    for b in (1, batch):
        x = rng.integers(0, 32, (b, 128))
        mac = MAC(w)
        mac.run(x, local)
        mac.run(x, remote)
        reps = max(3, 30 // b)
        t_local = best(lambda mac=mac, x=x, reps=reps: [mac.run(x, local)
                                                        for _ in range(reps)], repeats) / reps
        t_remote = best(lambda mac=mac, x=x, reps=reps: [mac.run(x, remote)
                                                         for _ in range(reps)], repeats) / reps
        ops = b * 128 * 256
        print(f"(b) MAC 128x256, batch {b:>4}: in-process {1 / t_local:8.1f} programs/s "
              f"({ops / t_local / 1e6:7.1f} M MAC/s)   remote {1 / t_remote:8.1f} programs/s "
              f"({ops / t_remote / 1e6:7.1f} M MAC/s)   ratio {t_local / t_remote:.2f}")


def bench_switch(port: int, batch: int, repeats: int) -> None:
    rng = np.random.default_rng(2)
    conns = [RemoteConnection("127.0.0.1", port, user=f"switch{i}") for i in range(2)]
    macs = [MAC(rng.integers(-63, 64, (128, 256))) for _ in conns]
    x = rng.integers(0, 32, (batch, 128))
    for c in conns:
        c.run(hagen_base_configuration().to_program())
    rounds = 5
    alone = best(lambda: [macs[0].run(x, conns[0]) for _ in range(2 * rounds)], repeats)
    alternating = best(lambda: [macs[i].run(x, conns[i]) for _ in range(rounds)
                                for i in range(2)], repeats)
    print(f"(c) user switch (two users, different weights, batch {batch}): "
          f"{1e3 * (alternating - alone) / (2 * rounds):.2f} ms per switch "
          f"({1e3 * alone / (2 * rounds):.2f} ms per program without switches)")
    for c in conns:
        c.close()


def bench_fairness(port: int, n_a: int, n_b: int, batch: int) -> None:
    conns = {u: RemoteConnection("127.0.0.1", port, user=u) for u in ("A", "B")}
    prog = {}
    for u, c in conns.items():
        c.run(hagen_base_configuration().to_program())
        w = np.full((128, 256), 21)
        cap = _Capture(c)
        MAC(w).run(np.full((batch, 128), 10), cap)
        prog[u] = cap.words
    results: dict = {}
    done: dict = {}

    def submit(user: str, n: int) -> None:
        results[user] = conns[user].execute_many([prog[user]] * n, window=n)
        done[user] = time.perf_counter()

    t0 = time.perf_counter()
    ta = threading.Thread(target=submit, args=("A", n_a))
    ta.start()
    time.sleep(0.02)
    submit("B", n_b)
    ta.join()
    runs = sorted((start, u) for u, rs in results.items() for _, start, _ in rs)
    order = "".join(u for _, u in runs)
    last_b = order.rindex("B")
    print(f"(d) fairness: A submits {n_a}, B {n_b} programs (MAC batch {batch}); the chip ran")
    print(f"    {order}")
    print(f"    B done after {order[:last_b].count('A')} of A's programs (FIFO: after "
          f"{n_a}); B finished in {done['B'] - t0:.2f} s, A in {done['A'] - t0:.2f} s")
    for c in conns.values():
        c.close()


class _Capture:
    """Passes a MAC's program through to the connection and keeps its words (with the halt)."""

    def __init__(self, conn) -> None:
        self.conn, self.shadow = conn, conn.shadow
        self.words = None

    def run(self, program):
        self.words = np.concatenate([program.words, HALT])
        return self.conn.run(program)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words", type=int, default=1_000_000, help="words of the (a) program")
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    p.add_argument("--batch", type=int, default=100, help="the larger MAC batch of (b)-(d)")
    p.add_argument("--chip-id", default="0", help="chip of the server and the local connection")
    p.add_argument("--fair-a", type=int, default=50, help="programs user A submits in (d)")
    p.add_argument("--fair-b", type=int, default=5, help="programs user B submits in (d)")
    args = p.parse_args(argv)
    chip = args.chip_id if args.chip_id == "ideal" else int(args.chip_id)
    queue = max(64, args.fair_a, args.fair_b)
    with LocalServer("--chip-id", str(chip), "--max-queue", str(queue)) as srv, \
            EmulatorConnection(chip) as local, \
            RemoteConnection("127.0.0.1", srv.port, user="bench") as remote:
        print(f"server benchmark: chip {chip}, loopback, {srv.banner}")
        for c in (local, remote):
            c.run(hagen_base_configuration().to_program())
        bench_words(local, remote, args.words, args.repeats)
        bench_macs(local, remote, args.batch, args.repeats)
        bench_switch(srv.port, args.batch, args.repeats)
        bench_fairness(srv.port, args.fair_a, args.fair_b, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
