"""connection_from_env (hxcomm precedence: the remote chip first), and the server's chip image
against the emulator's real storage."""

from __future__ import annotations

import numpy as np
import pytest

import driver
from driver import EmulatorConnection, RemoteConnection, connection_from_env, remote
from driver import instructions as ins
from driver.base_config import hagen_base_configuration
from driver.chip_image import ChipImage, writable_addresses
from driver.server import LocalServer
from hwlayer.regmap import registers as R
from hwlayer.regmap.storage import storage_map

VARS = ("QUIGGELDY_ENABLED", "QUIGGELDY_IP", "QUIGGELDY_PORT", "QUIGGELDY_TOKEN",
        "QUIGGELDY_USER_NO_MUNGE", "HXEMU_CHIP_ID", "HXEMU_SEED")


@pytest.fixture
def env(monkeypatch):
    for k in VARS:
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


@pytest.fixture
def fake_remote(env):
    calls = []

    class Fake:
        def __init__(self, host, port, **kw):
            calls.append((host, port, kw))

    env.setattr(remote, "RemoteConnection", Fake)
    return calls


def test_exported_from_driver():
    assert driver.connection_from_env is connection_from_env
    assert driver.RemoteConnection is RemoteConnection


def test_default_is_the_in_process_chip_0(env):
    conn = connection_from_env()
    assert isinstance(conn, EmulatorConnection) and conn.chip_id == 0


@pytest.mark.parametrize("value,chip", [("ideal", "ideal"), ("5", 5), (" 2 ", 2)])
def test_hxemu_chip_id(env, value, chip):
    env.setenv("HXEMU_CHIP_ID", value)
    assert connection_from_env().chip_id == chip


def test_hxemu_seed_repeats_noise(env):
    env.setenv("HXEMU_SEED", "42")
    a, b = connection_from_env(), connection_from_env()
    assert a._chip.seed == b._chip.seed == 42


@pytest.mark.parametrize("name,value,match", [
    ("HXEMU_CHIP_ID", "x", "HXEMU_CHIP_ID must be a non-negative int"),
    ("HXEMU_CHIP_ID", "-1", "non-negative"),
    ("HXEMU_SEED", "abc", "HXEMU_SEED must be an integer"),
    ("QUIGGELDY_ENABLED", "yes", "QUIGGELDY_ENABLED must be an integer"),
])
def test_bad_values_are_clear_errors(env, name, value, match):
    env.setenv(name, value)
    with pytest.raises(ValueError, match=match):
        connection_from_env()


def test_quiggeldy_takes_precedence(fake_remote, env):
    env.setenv("HXEMU_CHIP_ID", "3")  # ignored: the remote chip wins
    env.setenv("QUIGGELDY_ENABLED", "1")
    env.setenv("QUIGGELDY_IP", "10.0.0.7")
    env.setenv("QUIGGELDY_PORT", "11326")
    env.setenv("QUIGGELDY_TOKEN", "tok")
    env.setenv("QUIGGELDY_USER_NO_MUNGE", "alice")
    connection_from_env()
    assert fake_remote == [("10.0.0.7", 11326, {"token": "tok", "user": "alice"})]


def test_quiggeldy_optional_variables(fake_remote, env):
    env.setenv("QUIGGELDY_ENABLED", "2")
    env.setenv("QUIGGELDY_IP", "127.0.0.1")
    env.setenv("QUIGGELDY_PORT", "5000")
    connection_from_env()
    assert fake_remote == [("127.0.0.1", 5000, {"token": None, "user": None})]


@pytest.mark.parametrize("enabled", ["0", "", " 0 "])
def test_quiggeldy_disabled_unless_a_nonzero_int(fake_remote, env, enabled):
    env.setenv("QUIGGELDY_ENABLED", enabled)
    env.setenv("QUIGGELDY_IP", "127.0.0.1")
    env.setenv("QUIGGELDY_PORT", "5000")
    assert isinstance(connection_from_env(), EmulatorConnection) and not fake_remote


def test_quiggeldy_needs_ip_and_port(fake_remote, env):
    env.setenv("QUIGGELDY_ENABLED", "1")
    with pytest.raises(ValueError, match="QUIGGELDY_IP and QUIGGELDY_PORT are not set"):
        connection_from_env()
    env.setenv("QUIGGELDY_IP", "127.0.0.1")
    env.setenv("QUIGGELDY_PORT", "70000")
    with pytest.raises(ValueError, match="1..65535"):
        connection_from_env()


def test_an_explicit_mapping_instead_of_os_environ(fake_remote, env):
    env.setenv("QUIGGELDY_ENABLED", "1")  # os.environ is not consulted
    assert connection_from_env({"HXEMU_CHIP_ID": "ideal"}).chip_id == "ideal"


def test_env_reaches_a_real_server(env):
    with LocalServer("--chip-id", "7") as srv:
        for k, v in srv.env(QUIGGELDY_USER_NO_MUNGE="carol").items():
            env.setenv(k, v)
        with connection_from_env() as conn:
            assert isinstance(conn, RemoteConnection)
            assert conn.chip_id == 7 and conn.user == "carol"
            assert conn.get_unique_identifier() == "hxemu-chip-7"
        assert "connect user=carol" in srv.log()


# -- the server's chip image is the chip's storage ------------------------------------------------

def test_chip_image_follows_the_emulator_storage():
    """Random writes through raw and view addresses with random byte enables, chip resets
    (held and released) and failing writes: the image equals the emulator's storage."""
    look = writable_addresses()
    host = storage_map().host_owned  # the slots only the host writes
    conn, image = EmulatorConnection(0), ChipImage()
    halt = ins.encode("system_loopback", 0)

    def run(words):
        w = np.concatenate([words, halt])
        conn.execute_words(w)
        image.update(w)
        same = conn._chip.storage == image.words
        assert same[host].all(), [hex(int(a)) for a in image.addresses[host & ~same][:5]]
        assert np.array_equal(conn.shadow.words[host], image.words[host])

    run(hagen_base_configuration().to_program().words)
    rng = np.random.default_rng(1)
    ppu = R.PPU_MEMORY_BASE + np.arange(2)[:, None] * R.HEMISPHERE_STRIDE
    for k in range(14):
        a = np.concatenate([rng.choice(look, 3000), rng.integers(0, 2**32, 40)])
        # no PPU commands or PPU programs (the PPU writes its memory), no MADC recording
        in_ppu = ((a >= ppu) & (a < ppu + 0x200002)).any(axis=0)
        a = a[~in_ppu & (a != R.MADC_BASE + 3)]
        w = ins.omnibus_write(a, rng.integers(0, 2**32, a.size), rng.integers(0, 16, a.size))
        if k % 4 == 1:  # reset pulse in the middle
            w = np.concatenate([w[:100], ins.encode("system_reset", 1), w[100:300],
                                ins.encode("system_reset", 0), w[300:]])
        elif k % 4 == 2:  # reset held: later chip writes fail, FPGA registers still work
            w = np.concatenate([w[:100], ins.encode("system_reset", 1), w[100:]])
        run(w)
    assert not image.reset_asserted
    assert image.switch_words(image).size == 0


def test_switch_words_take_the_chip_from_one_image_to_another():
    rng = np.random.default_rng(2)
    look = writable_addresses()
    a, b = ChipImage(), ChipImage()
    base = hagen_base_configuration().to_program().words
    a.update(base)
    b.update(np.concatenate([ins.omnibus_write(rng.choice(look, 500),
                                               rng.integers(0, 2**32, 500)),
                             ins.encode("system_reset", 1)]))
    for src, dst in ((a, b), (b, a), (ChipImage(), a), (a, ChipImage())):
        chip = src.copy()
        chip.update(src.switch_words(dst))
        assert chip.reset_asserted == dst.reset_asserted
        assert chip.differs(dst).size == 0
        full = src.copy()
        full.update(src.switch_words(dst, everything=True))
        assert full.differs(dst).size == 0
