"""The chip server under attack (driver/server.py, docs/server.md "Limits"), on loopback only.

16 honest clients (a child process, one thread each) run exact MACs on the ideal chip through
`RemoteConnection`s the whole time. First they run alone (the baseline), then side by side
with six attacks, each bounded in count and time:

  big-hellos    6 unauthenticated connections announce a 60 MiB hello and send it
  deaf-flood    an authenticated client sends PROGRAM frames and never reads an answer
  idle-sockets  200 connections from two other loopback addresses that never send a hello
  slow-hello    a hello dribbled one byte every 0.5 s
  deep-json     hellos of 200,000 nested `[` (200 KB) and of 30,000 (within the size limit)
  madc-result   an 88-byte program whose MADC recording would answer with 40 MB, 5 times

It reports the requests served and their latency percentiles in both phases, every attack
and how the server answered it, and the server's memory (RSS) before the attacks, at their
peak and after them, against these targets: every honest result exact, peak at most
+64 MB, back within 16 MB, no honest request more than 2 s slower than without attacks.

    python benchmarks/bench_server_faults.py [--clients 16] [--base-s 8] [--attack-s 8]

The server runs with its default limits (and a token). The run stops by itself (about 30 s).
Exit status 1 if an honest result was wrong or a phase served nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from driver import PlaybackProgramBuilder, RemoteConnection, RemoteError  # noqa: E402
from driver import protocol as P  # noqa: E402
from driver.base_config import hagen_base_configuration  # noqa: E402
from driver.containers import MADCConfig, MADCControl  # noqa: E402
from driver.coordinates import MADCConfigOnDLS, MADCControlOnDLS  # noqa: E402
from driver.mac import MAC  # noqa: E402
from driver.server import LocalServer  # noqa: E402
from hwlayer.regmap import instructions as isa  # noqa: E402

TOKEN = "bench-faults-token"
SETTLE_S = 3.0  # after the attacks: the server lets go of what they made it hold
HALT = np.array([isa.HALT_WORD], dtype=np.uint64)
MIB = 1 << 20
ERROR_NAMES = {int(c): c.name for c in P.ErrorCode}


# -- the honest clients (a child process) -------------------------------------------------------

def exact(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The ideal chip's MAC: clamp(sum over 128-row chunks of clamp(floor(x_c @ W_c / 500)))."""
    total = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    for i in range(0, w.shape[0], 128):
        s = x[:, i:i + 128].astype(np.int64) @ w[i:i + 128].astype(np.int64)
        total += np.clip(np.floor_divide(s, 500), -128, 127)
    return np.clip(total, -128, 127)


def honest_worker(port: int, clients: int, seconds: float) -> None:
    """`clients` threads run MACs from "ready" until a line on stdin (at most `seconds`);
    then prints the JSON records [start time, latency, exact] of every request."""
    conns = [RemoteConnection("127.0.0.1", port, user=f"honest{k}", token=TOKEN)
             for k in range(clients)]
    rngs = [np.random.default_rng(k) for k in range(clients)]
    macs = [MAC(r.integers(-63, 64, (128, 32))) for r in rngs]
    for conn, mac, rng in zip(conns, macs, rngs):  # HAGEN mode, weights, warm up
        conn.run(hagen_base_configuration().to_program())
        mac.run(rng.integers(0, 32, (4, 128)), conn)
    records: list[list] = [[] for _ in range(clients)]
    print("ready", flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: sys.stdin.readline() and stop.set(), daemon=True).start()
    deadline = time.time() + seconds

    def loop(k: int) -> None:
        while not stop.is_set() and time.time() < deadline:
            x = rngs[k].integers(0, 32, (4, 128))
            t0 = time.time()
            try:
                y = macs[k].run(x, conns[k])
                ok = bool(np.array_equal(y.astype(np.int64), exact(x, macs[k].weights)))
            except Exception as e:  # reported as a failed request
                print(f"client {k}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                ok = False
            records[k].append([t0, time.time() - t0, ok])

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    print(json.dumps([r for rs in records for r in rs]), flush=True)


# -- the attacks --------------------------------------------------------------------------------

def _answer(sock: socket.socket, timeout: float) -> str:
    """What the server answered: an error frame's code name, or how the connection ended."""
    sock.settimeout(timeout)
    try:
        head = b""
        while len(head) < P.HEADER_SIZE:
            chunk = sock.recv(P.HEADER_SIZE - len(head))
            if not chunk:
                return "closed without a frame"
            head += chunk
        ftype, _, length = P.parse_header(head)
        payload = sock.recv(length) if length else b""
        if ftype == P.FrameType.ERROR:
            return P.ErrorCode(P.parse_error(payload)[0]).name
        return ftype.name
    except TimeoutError:
        return "no answer"
    except OSError as e:
        return f"reset ({e.__class__.__name__})"
    finally:
        sock.close()


def attack_big_hellos(port: int, _cfg) -> str:
    answers, sent = [], []
    for _ in range(6):
        s = socket.create_connection(("127.0.0.1", port))
        n = 0
        try:
            s.sendall(P.header(P.FrameType.HELLO, 60 * MIB))
            chunk = bytes(MIB)
            for _ in range(60):
                s.sendall(chunk)
                n += len(chunk)
        except OSError:
            pass
        sent.append(n)
        answers.append(_answer(s, 10))
    return (f"6 x 60 MiB hellos: answered {_counts(answers)}; at most "
            f"{max(sent) / MIB:.1f} MiB of one went into the socket before (kernel buffers: "
            "the server reads the header only)")


def attack_deaf_flood(port: int, cfg) -> str:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(P.json_frame(P.FrameType.HELLO, {"user": "deaf", "token": TOKEN}))
    frames = P.header(P.FrameType.PROGRAM, 0) * 1024
    sent, t0, how = 0, time.monotonic(), "still connected after 60 s (the attack stopped)"
    try:
        while time.monotonic() - t0 < 60:
            s.sendall(frames)
            sent += 1024
    except OSError as e:
        how = f"disconnected after {time.monotonic() - t0:.1f} s ({e.__class__.__name__})"
    s.close()
    return f"{sent} PROGRAM frames sent, no answer read: {how}"


def attack_idle_sockets(port: int, cfg) -> str:
    socks = []
    for k in range(200):
        try:
            socks.append(socket.create_connection(
                ("127.0.0.1", port), source_address=(f"127.0.0.{2 + k % 2}", 0)))
        except OSError:
            break
    t0 = time.monotonic()
    answers = [_answer(s, cfg.hello_timeout + 10) for s in socks]
    return (f"{len(socks)} idle connections from 127.0.0.2 and .3: answered "
            f"{_counts(answers)}, the last after {time.monotonic() - t0:.1f} s")


def attack_slow_hello(port: int, cfg) -> str:
    s = socket.create_connection(("127.0.0.1", port))
    frame = P.json_frame(P.FrameType.HELLO, {"user": "slow", "token": TOKEN})
    t0 = time.monotonic()
    try:
        for b in frame:
            s.sendall(bytes([b]))
            time.sleep(0.5)
            if time.monotonic() - t0 > cfg.hello_timeout + 10:
                break
    except OSError:
        pass
    answer = _answer(s, 10)
    return f"a hello at 2 bytes/s: {answer} after {time.monotonic() - t0:.1f} s"


def attack_deep_json(port: int, _cfg) -> str:
    answers = []
    for payload in (b"[" * 200_000, b'{"user": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"):
        s = socket.create_connection(("127.0.0.1", port))
        try:
            s.sendall(P.header(P.FrameType.HELLO, len(payload)) + payload)
        except OSError:
            pass
        answers.append(_answer(s, 10))
    return f"hellos nested 200,000 and 30,000 deep: answered {', '.join(answers)}"


def madc_words() -> np.ndarray:
    b = PlaybackProgramBuilder()
    b.write(MADCConfigOnDLS(), MADCConfig(enable=True, neuron=0, readout_source=0,
                                          sample_period=12, number_of_samples=(1 << 24) - 1))
    b.write(MADCControlOnDLS(), MADCControl(start_recording=True))
    b.wait_until(1 << 26)
    return np.concatenate([b.done().words, HALT])


def attack_madc_result(port: int, _cfg) -> str:
    words = madc_words()
    answers = []
    with RemoteConnection("127.0.0.1", port, user="madc", token=TOKEN) as conn:
        for _ in range(5):
            try:
                r = conn.execute_words(words)
                answers.append(f"RESULT of {P.result_bytes(r[0].size) / MIB:.1f} MiB")
            except RemoteError as e:
                answers.append(ERROR_NAMES.get(e.code, str(e.code)))
    return f"{words.nbytes}-byte MADC program x 5: answered {_counts(answers)}"


ATTACKS = {"big-hellos": attack_big_hellos, "deaf-flood": attack_deaf_flood,
           "idle-sockets": attack_idle_sockets, "slow-hello": attack_slow_hello,
           "deep-json": attack_deep_json, "madc-result": attack_madc_result}


def _counts(items: list[str]) -> str:
    return ", ".join(f"{items.count(k)} x {k}" for k in sorted(set(items)))


# -- measuring ----------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


class MemoryProbe(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.running = pid, [], True

    def run(self) -> None:
        while self.running:
            self.samples.append((time.time(), rss_mb(self.pid)))
            time.sleep(0.02)

    def between(self, t0: float, t1: float) -> list[float]:
        return [m for t, m in self.samples if t0 <= t < t1]


def stats(records: list, t0: float, t1: float) -> dict:
    lat = np.array([r[1] for r in records if t0 <= r[0] < t1])
    if lat.size == 0:
        return {"n": 0, "exact": True}
    p50, p90, p99 = np.percentile(lat, [50, 90, 99])
    return {"n": int(lat.size), "p50": p50, "p90": p90, "p99": p99, "max": float(lat.max()),
            "rate": lat.size / (t1 - t0),
            "exact": all(r[2] for r in records if t0 <= r[0] < t1)}


def fmt(name: str, s: dict) -> str:
    if not s["n"]:
        return f"  {name:<13} no requests"
    return (f"  {name:<13} {s['n']:>6} requests ({s['rate']:6.1f}/s)  latency p50 "
            f"{1e3 * s['p50']:7.1f} ms  p90 {1e3 * s['p90']:7.1f} ms  p99 "
            f"{1e3 * s['p99']:7.1f} ms  max {1e3 * s['max']:7.1f} ms  all exact: {s['exact']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--base-s", type=float, default=8.0, help="baseline phase (s)")
    p.add_argument("--attack-s", type=float, default=8.0, help="at least this long (s)")
    p.add_argument("--attacks", default=",".join(ATTACKS),
                   help="comma-separated subset of: " + ", ".join(ATTACKS))
    p.add_argument("--hello-timeout", type=float, default=None,
                   help="the server's --hello-timeout (default: the server's default)")
    p.add_argument("--worker", nargs=3, metavar=("PORT", "CLIENTS", "SECONDS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.attacks = [a for a in args.attacks.split(",") if a]
    unknown = sorted(set(args.attacks) - set(ATTACKS))
    if unknown:
        p.error(f"unknown attacks {unknown}: choose from {', '.join(ATTACKS)}")
    if args.worker:
        honest_worker(int(args.worker[0]), int(args.worker[1]), float(args.worker[2]))
        return 0

    extra = [] if args.hello_timeout is None else ["--hello-timeout", str(args.hello_timeout)]
    from driver.server import ServerConfig

    args.hello_timeout = args.hello_timeout or ServerConfig().hello_timeout_s
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "token"
        token_file.write_text(TOKEN)
        with LocalServer("--chip-id", "ideal", "--token-file", str(token_file), *extra) as srv:
            return _run(srv, args)


def _run(srv: LocalServer, args) -> int:
    probe = MemoryProbe(srv.process.pid)
    probe.start()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [q for q in [os.environ.get("PYTHONPATH")] if q])}
    # the honest clients run until told to stop (at most 5 minutes)
    worker = subprocess.Popen([sys.executable, __file__, "--worker", str(srv.port),
                               str(args.clients), "300"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the honest clients did not start:\n{srv.log()}")
        t0 = time.time()
        time.sleep(args.base_s)
        t1 = time.time()
        results: dict[str, str] = {}

        def attack(name: str) -> None:
            try:
                results[name] = ATTACKS[name](srv.port, args)
            except Exception as e:  # an attack that breaks is reported, not fatal
                results[name] = f"attack failed: {type(e).__name__}: {e}"

        threads = [threading.Thread(target=attack, args=(n,)) for n in args.attacks]
        for t in threads:
            t.start()
        time.sleep(args.attack_s)
        for t in threads:
            t.join()
        t2 = time.time()
        time.sleep(SETTLE_S)  # the server lets go of what the attacks made it hold
        t3 = time.time()
        worker.stdin.write("stop\n")
        worker.stdin.flush()
        records = json.loads(worker.stdout.readline())
        worker.wait(60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        probe.running = False
        probe.join()
    return _report(srv, probe, records, results, (t0, t1, t2, t3))


def _report(srv, probe: MemoryProbe, records: list, results: dict, times) -> int:
    t0, t1, t2, t3 = times
    base, under = stats(records, t0, t1), stats(records, t1, t2)
    before = probe.between(t1 - 1.0, t1)
    peak = probe.between(t1, t3)
    after = probe.between(t3 - 1.0, t3 + 1.0)
    m_before = float(np.median(before))
    m_peak, m_after = max(peak), float(np.median(after))
    print(f"chip server under attack: ideal chip, default limits, {len(records)} honest "
          f"requests in all (loopback)")
    print("honest clients (MAC 4 x 128 -> 32 each, checked against the exact formula):")
    print(fmt("baseline", base))
    print(fmt("under attack", under))
    print("attacks and the server's answers:")
    for name in ATTACKS:
        print(f"  {name:<13} {results.get(name, 'not run (--attacks)')}")
    drops = re.findall(r"disconnect user=deaf .*?: (.*)", srv.log())
    if drops:
        print(f"  {'':<13} server log: {drops[0]}")
    print(f"server memory (RSS): before {m_before:.1f} MB, peak {m_peak:.1f} MB "
          f"(+{m_peak - m_before:.1f}), after {m_after:.1f} MB ({m_after - m_before:+.1f})")
    slower = under.get("max", 0.0) - base.get("max", 0.0)
    exact_ok = base["exact"] and under["exact"]
    checks = [("every honest result exact", exact_ok),
              ("peak memory <= +64 MB", m_peak - m_before <= 64),
              ("memory back within 16 MB", abs(m_after - m_before) <= 16),
              (f"slowest honest request {slower:+.2f} s against the baseline (<= +2 s)",
               slower <= 2.0)]
    for text, ok in checks:
        print(f"target: {text}: {'met' if ok else 'MISSED'}")
    return 0 if exact_ok and base["n"] and under["n"] else 1


if __name__ == "__main__":
    sys.exit(main())
