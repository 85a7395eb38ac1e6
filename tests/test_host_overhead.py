"""The host side around a program: helper thread (HXEMU_HOST_THREADS), buffers reused across
runs, the program built in one buffer with its halt, the compiled result decoding."""

import numpy as np
import pytest

from driver import EmulatorConnection, PlaybackProgramBuilder
from driver.base_config import hagen_base_configuration
from driver.instructions import InstructionError, decode_from_fpga, encode_from_fpga
from driver.mac import MAC
from hwlayer.emulator import Chip
from hwlayer.host import THREADS_ENV, host_threads
from hwlayer.regmap import instructions as isa


def _runs(threads: str, monkeypatch) -> list[np.ndarray]:
    """Outputs, ChipImage words and chip storage of a seeded chip 0 across MAC shapes."""
    monkeypatch.setenv(THREADS_ENV, threads)
    conn = EmulatorConnection(0, seed=5)
    conn.run(hagen_base_configuration().to_program())
    rng = np.random.default_rng(2)
    got = []
    for shape, ns in (((300, 40), 2), ((4, 128), 5), ((200, 300), 1)):  # (300, 40): > 2**16 words
        mac = MAC(rng.integers(-63, 64, shape), num_sends=ns)
        x = rng.integers(0, 32, (150, shape[0]))
        got += [mac.run(x, conn), mac.run_tiles(x[:7], conn), conn.shadow.words.copy()]
    got += [conn._chip.storage.copy()]
    return got


def test_results_do_not_depend_on_the_host_threads(monkeypatch):
    one = _runs("1", monkeypatch)
    two = _runs("2", monkeypatch)
    assert len(one) == len(two)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("text", ["0", "3", "two", "-1"])
def test_a_bad_thread_count_names_the_variable(monkeypatch, text):
    monkeypatch.setenv(THREADS_ENV, text)
    with pytest.raises(ValueError, match=f"{THREADS_ENV} must be 1 or 2, got '{text}'"):
        host_threads()


def test_the_thread_count_default_follows_the_cores(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert host_threads() == 1
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert host_threads() == 2


def test_an_alongside_failure_reaches_the_caller(monkeypatch):
    chip = Chip("ideal")
    words = np.concatenate([np.zeros(1 << 15, dtype=np.uint64),  # big enough for the helper
                            np.array([isa.HALT_WORD], dtype=np.uint64)])
    words[:] = np.uint64(isa.TO["timing_setup"]) << np.uint64(56)
    words[-1] = isa.HALT_WORD
    for threads in ("1", "2"):
        monkeypatch.setenv(THREADS_ENV, threads)

        def fail():
            raise KeyError("from the helper")

        with pytest.raises(KeyError, match="from the helper"):
            chip.execute(words, alongside=fail)


def test_a_held_result_keeps_its_events_while_later_runs_reuse_buffers():
    chip = Chip("ideal")
    b = PlaybackProgramBuilder()
    b.reset_timer()
    b.spikes(np.array([10, 20]), np.array([7, 8]))
    first = chip.execute(b.done().with_halt())
    b.reset_timer()
    b.spikes(np.array([5, 6, 7]), np.array([1, 2, 3]))
    prog = b.done().with_halt()
    second = chip.execute(prog)
    assert list(first.event_labels) == [7, 8]
    assert list(second.event_labels) == [1, 2, 3]
    del second
    third = chip.execute(prog)  # may reuse the second run's buffers
    assert list(first.event_labels) == [7, 8]
    assert list(third.event_labels) == [1, 2, 3]


def test_done_leaves_room_for_the_halt_and_with_halt_uses_it():
    b = PlaybackProgramBuilder()
    b.reset_timer()
    b.wait_until(100)
    p = b.done()
    w = p.with_halt()
    assert w[-1] == isa.HALT_WORD and np.array_equal(w[:-1], p.words)
    assert np.shares_memory(w, p.words)
    p.words = p.words.copy()  # replaced (as the MADC recording does): a copy with the halt
    w2 = p.with_halt()
    assert np.array_equal(w2, w) and not np.shares_memory(w2, p.words)


def test_adopted_words_are_used_as_they_are():
    words = np.full(5, np.uint64(isa.TO["timing_setup"]) << np.uint64(56), dtype=np.uint64)
    b = PlaybackProgramBuilder()
    b.append_words(words, adopt=True)
    assert b.done().words is words
    b.append_words(words, adopt=True)
    b.reset_timer()  # more than the adopted array: one copy
    p = b.done()
    assert p.words.size == 6 and not np.shares_memory(p.words, words)


def test_the_compiled_decoder_matches_the_bitstream_decoder():
    msgs = [("omnibus_data", 0x1234), ("loopback", isa.LOOPBACK_TICK), ("omnibus_data", 7)]
    words = encode_from_fpga(msgs)
    fast = decode_from_fpga(words)
    slow = __import__("driver.instructions", fromlist=["x"])._decode_bitstream(words)
    np.testing.assert_array_equal(fast.headers, slow.headers)
    np.testing.assert_array_equal(fast.payloads, slow.payloads)
    bad = words.copy()
    bad[1] = np.uint64(len(isa.FROM_FPGA)) << np.uint64(56)
    with pytest.raises(InstructionError, match="Unknown UT message header .* at response word 1"):
        decode_from_fpga(bad)


def test_run_is_the_saturated_sum_of_run_tiles():
    conn = EmulatorConnection("ideal")
    conn.run(hagen_base_configuration().to_program())
    rng = np.random.default_rng(0)
    w = rng.integers(-63, 64, (300, 600))
    x = rng.integers(0, 32, (20, 300))
    mac = MAC(w)
    tiles = mac.run_tiles(x, conn).astype(np.int64)
    want = np.zeros((20, 600), dtype=np.int64)
    for k, (_, o0) in enumerate(mac.tiles):
        width = min(256, 600 - o0)
        want[:, o0:o0 + width] += tiles[:, k, :width]
    np.testing.assert_array_equal(mac.run(x, conn), np.clip(want, -128, 127))


def _big_program(n: int) -> np.ndarray:
    """n - 1 timer resets and the halt: large enough to be checked in two halves."""
    w = np.full(n, np.uint64(isa.TO["timing_setup"]) << np.uint64(56), dtype=np.uint64)
    w[-1] = isa.HALT_WORD
    return w


def _spoil(kind: str, at: int, n: int) -> np.ndarray:
    w = _big_program(n)
    if kind == "header":
        w[at] = np.uint64(len(isa.TO_FPGA)) << np.uint64(56)
    elif kind == "halt":
        w[at] = isa.HALT_WORD
    elif kind == "no halt":
        w[-1] = w[0]
    elif kind == "data":
        w[at] = np.uint64(isa.TO["omnibus_data"]) << np.uint64(56)
    return w


@pytest.mark.parametrize("kind", ["header", "halt", "no halt", "data"])
def test_split_checks_report_what_one_pass_reports(monkeypatch, kind):
    n = 1 << 17
    for at in (5, n // 2 - 1, n // 2, n // 2 + 1, n - 3):
        words = _spoil(kind, at, n)
        messages = []
        for threads in ("1", "2"):
            monkeypatch.setenv(THREADS_ENV, threads)
            with pytest.raises(ValueError) as err:
                Chip("ideal").execute(words)
            messages.append(str(err.value))
        assert messages[0] == messages[1]
        if kind != "no halt":
            assert f"{at}" in messages[0]


def test_split_checks_count_what_one_pass_counts(monkeypatch):
    b = PlaybackProgramBuilder()
    b.reset_timer()
    b.spikes(np.array([10, 10, 20]), np.array([1, 2, 3]))
    b.wait_until(30)
    words = np.concatenate([np.tile(b.done().words, 12000),  # spikes in both halves
                            np.array([isa.HALT_WORD], dtype=np.uint64)])
    assert words.size > 1 << 16
    got = []
    for threads in ("1", "2"):
        monkeypatch.setenv(THREADS_ENV, threads)
        r = Chip(0, seed=1).execute(words)
        got.append((r.event_times.copy(), r.event_labels.copy(), r.responses.copy()))
    for a, b_ in zip(*got):
        np.testing.assert_array_equal(a, b_)
    assert got[0][1].size == 36000


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int32", "int64"])
def test_the_one_pass_hardware_rounding_equals_the_torch_rounding(dtype):
    import torch

    from frontend.perceptron import digitize, rounding

    rng = np.random.default_rng(0)
    dt = getattr(torch, dtype)
    for special in ([], [np.nan], [np.inf, -1e20]):
        if dt.is_floating_point:
            v = np.concatenate([rng.integers(-100, 100, 300) / 2, rng.normal(0, 50, 300),
                                [0.49999997, -0.49999997, 0.49999999999999994, -2.5], special])
            x = torch.tensor(v).to(dt)
        else:
            x = torch.tensor(rng.integers(-1000, 1000, 300)).to(dt)
        q = rounding.half_away_from_zero(x)
        ints, found = digitize.round_away_int64(x.reshape(20, -1) if x.numel() % 20 == 0 else x)
        want = rounding.value_range(q)
        assert (np.isnan(want[0]) and np.isnan(found[0])) or found == want
        ok = torch.isfinite(q) & (q.abs() < 2 ** 62)  # beyond: clamped (checked first)
        np.testing.assert_array_equal(ints.ravel()[ok.numpy()], q[ok].to(torch.int64).numpy())
    assert digitize.round_away_int64(torch.zeros(0, 3))[1] is None


def test_of_finds_blocks_and_scattered_messages_alike():
    msgs = [("omnibus_data", 1), ("omnibus_data", 2), ("loopback", isa.LOOPBACK_TICK),
            ("omnibus_data", 3), ("timeout_notification", 9), ("timeout_notification", 10)]
    s = decode_from_fpga(encode_from_fpga(msgs))
    assert s.counts is not None
    for name in ("omnibus_data", "loopback", "timeout_notification", "jtag_data"):
        want = [p for m, p in msgs if m == name]
        assert s.of(name).tolist() == want


def _run_in_child(conn, queue) -> None:
    mac = MAC(np.ones((128, 8), dtype=int))
    queue.put(mac.run(np.ones((4, 128), dtype=int), conn).shape)


def test_a_forked_process_runs_the_chip_it_inherited():
    import multiprocessing

    conn = EmulatorConnection(0, seed=1)
    conn.run(hagen_base_configuration().to_program())
    MAC(np.ones((128, 8), dtype=int)).run(np.ones((4, 128), dtype=int), conn)  # draws ahead
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_run_in_child, args=(conn, queue))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == (4, 8)
