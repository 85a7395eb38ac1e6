"""Cocolist files (.pbin): round trips, the documented layout, corruption, atomic writes, CLI."""

import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import cocolist_file as cf
from driver import containers as C
from driver import coordinates as co
from driver.base_config import hagen_base_configuration
from driver.cocolist import Cocolist
from driver.cocolist_file import (
    CocolistFileError,
    cocolist_to_json,
    decode_cocolist,
    diff_cocolists,
    encode_cocolist,
    load_cocolist,
    save_cocolist,
)
from frontend import cli

ROOT = Path(__file__).resolve().parents[1]
META = {"model_version": 1, "chip_id": 7, "created": "2025-01-02T03:04:05+00:00",
        "hxemu": "0.1.0", "comment": "test"}

# --- strategies --------------------------------------------------------------------------------

REGISTER_TYPES = [c for c in C.ALL_CONTAINERS
                  if issubclass(c, C.RegisterContainer) and c.writable]


@st.composite
def coordinates(draw, ct):
    if ct is co.CrossbarNodeOnDLS:
        return ct.from_enum(draw(st.integers(0, co.R.CROSSBAR_NODES - 1)))
    return ct(**{k: draw(st.integers(lo, hi)) for k, (lo, hi) in ct._ranges().items()})


@st.composite
def register_entries(draw):
    cls = draw(st.sampled_from(REGISTER_TYPES))
    values = {}
    for f in cls.layout.fields:
        if f.name in cls.ENUMS:
            one = st.sampled_from(list(cls.ENUMS[f.name]))
        else:
            one = st.integers(f.minimum, f.max_value)
        values[f.name] = draw(one if f.entries == 1 else st.tuples(*[one] * f.entries))
    return draw(coordinates(cls.coordinate_type)), cls(**values)


def _random_block(cls, shape, seed):
    rng = np.random.default_rng(seed)
    arrays = {}
    for k, lf in cls.FIELDS.items():
        f = cls.layout[lf]
        arrays[k] = rng.integers(f.minimum, f.max_value + 1, size=shape)
    return cls(**arrays)


@st.composite
def block_entries(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["capmem", "weights", "labels", "ppu"]))
    if kind == "capmem":
        return (co.CapMemBlockOnDLS(block=draw(st.integers(0, 3))),
                _random_block(C.CapMemBlock, C.CapMemBlock.SHAPE, seed))
    if kind in ("weights", "labels"):
        ct, cls = ((co.SynapseRowOnDLS, C.SynapseWeightRow) if kind == "weights"
                   else (co.SynapseLabelRowOnDLS, C.SynapseLabelRow))
        return (ct(hemisphere=draw(st.integers(0, 1)), row=draw(st.integers(0, 255))),
                _random_block(cls, cls.SHAPE, seed))
    start = draw(st.integers(0, 4095))
    size = draw(st.integers(1, min(64, 4096 - start)))
    return (co.PPUMemoryBlockOnDLS(ppu=draw(st.integers(0, 1)), start=start, size=size),
            _random_block(C.PPUMemoryBlock, (size,), seed))


u32 = st.integers(0, 2**32 - 1)
fpga_entries = st.one_of(
    st.builds(lambda a, v, b: (co.OmnibusAddress(address=a), C.OmnibusWord(value=v,
                                                                            byte_enables=b)),
              u32, u32, st.integers(0, 15)),
    st.just((co.TimerOnDLS(), C.Timer())),
    st.builds(lambda v: (co.ResetChipOnDLS(), C.ResetChip(value=v)), st.booleans()),
    st.builds(lambda v: (co.SystimeSyncOnFPGA(), C.SystimeSync(do_sync=v)), st.booleans()),
    st.just((co.ResetJTAGTapOnDLS(), C.ResetJTAGTap())),
    st.builds(lambda v: (co.JTAGClockScalerOnDLS(), C.JTAGClockScaler(value=v)),
              st.integers(0, 255)),
    st.builds(lambda labels: (co.SpikePackToChipOnDLS(), C.SpikePackToChip(labels=labels)),
              st.lists(st.integers(0, 2**16 - 1), min_size=1, max_size=3)),
)
wait_entries = st.one_of(
    st.builds(lambda v: (co.TimerOnDLS(), C.Timer.Value(v)), u32),
    st.builds(lambda m: (co.BarrierOnFPGA(), C.Barrier(m)), st.integers(0, 31)),
    st.builds(lambda e: (co.PollingOmnibusBlockOnFPGA(),
                         C.PollingOmnibusBlock(enable_expects_equality=e)), st.booleans()),
)
cocolists = st.lists(st.one_of(register_entries(), register_entries(), block_entries(),
                               fpga_entries, wait_entries), max_size=25).map(Cocolist)


def _assert_same(a: Cocolist, b: Cocolist) -> None:
    assert len(a) == len(b)
    for (ca, ia), (cb, ib) in zip(a, b, strict=True):
        assert type(ca) is type(cb) and ca == cb
        assert type(ia) is type(ib) and ia == ib
    assert a == b


# --- round trips -------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(cocolists)
def test_random_cocolists_round_trip_exactly(cc):
    data = encode_cocolist(cc, META)
    back, meta = decode_cocolist(data, "x.pbin")
    _assert_same(back, cc)
    assert meta == META
    assert encode_cocolist(back, meta) == data  # deterministic, and the same bits
    assert np.array_equal(back.to_program().words, cc.to_program().words)


def test_base_configuration_round_trips_through_a_file(tmp_path):
    cc = hagen_base_configuration()
    path = tmp_path / "hagen_cocolist.pbin"
    save_cocolist(path, cc, {"chip_id": 0, "comment": "base"})
    back, meta = load_cocolist(path)
    _assert_same(back, cc)
    assert np.array_equal(back.to_program().words, cc.to_program().words)
    assert meta["chip_id"] == 0 and meta["comment"] == "base"
    assert meta["hxemu"] == cf.hxemu_version() and meta["model_version"] is None
    assert meta["created"].endswith("+00:00")
    # the methods on Cocolist
    cc.save(tmp_path / "b.pbin", META)
    assert Cocolist.load(tmp_path / "b.pbin") == cc
    assert load_cocolist(tmp_path / "b.pbin")[1] == META


def test_big_blocks_and_shared_containers_round_trip():
    cc = Cocolist()
    cc.append(co.SynramOnDLS(hemisphere=1), _random_block(C.SynapseMatrix, (256, 256), 1))
    cc.append(co.PPUMemoryOnDLS(ppu=0), _random_block(C.PPUMemory, (4096,), 2))
    cc.append(co.SynapseWeightMatrixOnDLS(hemisphere=0),
              _random_block(C.SynapseWeightMatrix, (256, 256), 3))
    cfg = C.CADCChannelConfig(offset=-128)
    for c in range(256):
        cc.append(co.CADCChannelConfigOnDLS(hemisphere=0, channel_type=1, column=c), cfg)
        cc.append(co.TimerOnDLS(), C.Timer.Value(c))
    back, _ = decode_cocolist(encode_cocolist(cc))
    _assert_same(back, cc)


def test_metadata_round_trip_and_defaults(tmp_path):
    meta = {"chip_id": np.int64(3), "model_version": 1, "comment": "ünïcode",
            "extra": {"nested": [1, 2.5, None, True]}}
    save_cocolist(tmp_path / "m.pbin", Cocolist(), meta)
    back, got = load_cocolist(tmp_path / "m.pbin")
    assert back == Cocolist()
    assert got["chip_id"] == 3 and got["comment"] == "ünïcode"
    assert got["extra"] == {"nested": [1, 2.5, None, True]}
    assert set(cf.METADATA_KEYS) <= set(got)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_cocolist(tmp_path / "n.pbin", Cocolist(), {"bad": object()})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_cocolist(tmp_path / "n.pbin", Cocolist(), {"nan": float("nan")})
    with pytest.raises(TypeError, match="keys must be strings"):
        save_cocolist(tmp_path / "n.pbin", Cocolist(), {1: 2})
    assert not (tmp_path / "n.pbin").exists()


# --- the documented layout ---------------------------------------------------------------------

def _pack(meta: bytes, types, records, coords=(), words=(), values=(), *, magic=cf.MAGIC,
          version=cf.FORMAT_VERSION, flags=0) -> bytes:
    """An independent writer of the layout in docs/cocolists.md (to craft any file)."""
    body = struct.pack("<I", len(meta)) + meta + struct.pack("<H", len(types))
    for name, fields in types:
        for text in (name, fields):
            b = text.encode()
            body += struct.pack("<H", len(b)) + b
    body += struct.pack("<I", len(records))
    body += b"".join(struct.pack("<HHBBI", *r) for r in records)
    body += np.asarray(coords, dtype="<i8").tobytes() + np.asarray(words, dtype="<u4").tobytes()
    body += np.asarray(values, dtype="<i8").tobytes()
    size = 20 + len(body) + 32
    data = struct.pack("<8sHHQ", magic, version, flags, size) + body
    return data + hashlib.sha256(data).digest()


META_BYTES = json.dumps(META, sort_keys=True).encode()
CELL = ("CapMemCellOnDLS", "block,column,row")
CELL_C = ("CapMemCell", "value")
TIMER = ("TimerOnDLS", "")
VALUE = ("Timer.Value", "value")
SPIKES = ("SpikePackToChipOnDLS", "")
PACK = ("SpikePackToChip", "labels")


def _small():
    cc = Cocolist()
    cc.append(co.CapMemCellOnDLS(block=1, column=129, row=23), C.CapMemCell(value=1022))
    cc.append(co.TimerOnDLS(), C.Timer.Value(1000))
    cc.append(co.SpikePackToChipOnDLS(), C.SpikePackToChip(labels=(3, 4)))
    return cc


def _small_bytes(**kw):
    return _pack(META_BYTES, [CELL, CELL_C, TIMER, VALUE, SPIKES, PACK],
                 [(0, 1, 0, 3, 1), (2, 3, 3, 0, 2), (4, 5, 2, 0, 3)],
                 coords=[1, 129, 23], words=[1022], values=[-1, 1000, 2, 3, 4], **kw)


def test_layout_matches_the_documentation():
    assert encode_cocolist(_small(), META) == _small_bytes()
    _assert_same(decode_cocolist(_small_bytes())[0], _small())


# --- corruption --------------------------------------------------------------------------------

def _err(data: bytes, match: str = "") -> str:
    with pytest.raises(CocolistFileError) as e:
        decode_cocolist(data, "some/file.pbin")
    msg = str(e.value)
    assert msg.startswith("some/file.pbin: ") and "\n" not in msg
    assert match in msg, msg
    return msg


def test_every_truncation_and_every_flipped_byte_is_detected():
    data = _small_bytes()
    for cut in range(len(data)):
        _err(data[:cut])
    for pos in range(len(data)):
        for mask in (0x01, 0x80):
            bad = bytearray(data)
            bad[pos] ^= mask
            _err(bytes(bad))
    _err(data + b"\0", "unexpected bytes after the end")


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_random_corruption_of_the_base_configuration(data):
    raw = encode_cocolist(hagen_base_configuration(), META)
    pos = data.draw(st.integers(0, len(raw) - 1))
    bad = bytearray(raw)
    bad[pos] ^= data.draw(st.integers(1, 255))
    _err(bytes(bad))
    _err(raw[:data.draw(st.integers(0, len(raw) - 1))])


def test_foreign_newer_and_corrupted_files():
    assert "bad magic" in _err(b"PK\x03\x04" + bytes(100))
    assert "bad magic" in _err(_small_bytes(magic=b"HXEMUCOX"))
    _err(b"", "truncated")
    _err(cf.MAGIC[:5], "truncated")
    _err(_small_bytes(version=cf.FORMAT_VERSION + 1), "written by a newer hxemu")
    _err(_small_bytes(version=0), "unknown format version 0")
    _err(_small_bytes(flags=1), "unknown flags")
    data = bytearray(_small_bytes())
    data[-1] ^= 1
    _err(bytes(data), "checksum mismatch")


@pytest.mark.parametrize("meta, match", [
    (b"{not json", "malformed metadata"),
    (b"\xff\xfe", "malformed metadata"),
    (b"[1, 2]", "JSON object is required"),
    (b'{"chip_id": 1}', "missing key"),
])
def test_garbage_metadata(meta, match):
    _err(_pack(meta, [], []), match)


def test_unknown_names_and_changed_classes():
    _err(_pack(META_BYTES, [("CapMemCellOnMars", "block,column,row"), CELL_C],
               [(0, 1, 0, 3, 1)], [0, 0, 0], [5]), "unknown type name 'CapMemCellOnMars'")
    _err(_pack(META_BYTES, [CELL, ("CapMemCell", "value,extra")],
               [(0, 1, 0, 3, 1)], [0, 0, 0], [5]), "has fields (value,extra) in the file")


@pytest.mark.parametrize("types, records, coords, words, values, match", [
    # the entry table
    ([CELL, CELL_C], [(0, 2, 0, 3, 1)], [0, 0, 0], [5], [], "names item type 2"),
    ([CELL, CELL_C], [(1, 0, 0, 3, 1)], [0, 0, 0], [5], [], "is not a coordinate"),
    ([CELL, CELL_C], [(0, 1, 2, 3, 2)], [0, 0, 0], [], [-1, 5],
     "kind 2 (fpga), but CapMemCell is kind 0 (register)"),
    ([CELL, CELL_C], [(0, 1, 0, 2, 1)], [0, 0], [5], [], "2 coordinate values"),
    ([CELL, CELL_C], [(0, 1, 0, 3, 2)], [0, 0, 0], [5, 5], [], "2 words for CapMemCell"),
    ([CELL, CELL_C], [(0, 1, 0, 3, 1)], [0, 0, 0], [5, 5], [], "left over"),
    ([CELL, CELL_C], [(0, 1, 0, 3, 1)], [0, 0, 0], [], [], "runs past the end"),
    # values out of range, bits outside fields, wrong pairs
    ([CELL, CELL_C], [(0, 1, 0, 3, 1)], [0, 0, 24], [5], [], "row must be in 0..23"),
    ([CELL, CELL_C], [(0, 1, 0, 3, 1)], [0, 0, -1], [5], [], "row must be in 0..23"),
    ([CELL, CELL_C], [(0, 1, 0, 3, 1)], [0, 0, 0], [1 << 20], [], "bits set outside"),
    ([("CapMemBlockConfigOnDLS", "block"), ("CapMemBlockConfig",
      ",".join(C.CapMemBlockConfig.layout.field_names))],
     [(0, 1, 0, 1, 10)], [0], [0, 31] + [0] * 8, [], "debug_readout_row"),
    ([TIMER, VALUE], [(0, 1, 3, 0, 2)], [], [], [-1, 2**32], "out of range"),
    ([SPIKES, PACK], [(0, 1, 2, 0, 5)], [], [], [4, 1, 2, 3, 4], "1..3 labels"),
    ([SPIKES, PACK], [(0, 1, 2, 0, 3)], [], [], [7, 1, 2], "bad length marker"),
    ([SPIKES, PACK], [(0, 1, 2, 0, 3)], [], [], [-1, 1, 2], "left over"),
    ([TIMER, CELL_C], [(0, 1, 0, 0, 1)], [], [5], [], "CapMemCell lives at"),
    ([("CADCSampleQuadOnDLS", "hemisphere,readout_type,channel_type,row,quad"),
      ("CADCSampleQuad", "samples")], [(0, 1, 0, 5, 1)], [0, 0, 0, 0, 0], [0], [],
     "read-only"),
    ([("CapMemBlockOnDLS", "block"), ("CapMemBlock", "values")], [(0, 1, 1, 1, 3)], [0],
     [0, 0, 0], [], "3 words in the file"),
])
def test_malformed_entries(types, records, coords, words, values, match):
    msg = _err(_pack(META_BYTES, types, records, coords, words, values), match)
    assert "entry 0" in msg or "malformed" in msg


# --- files -------------------------------------------------------------------------------------

def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.pbin"
    with pytest.raises(CocolistFileError, match="nope.pbin: no such file") as e:
        load_cocolist(path)
    assert isinstance(e.value.__cause__, FileNotFoundError)
    with pytest.raises(CocolistFileError, match="cannot read"):
        load_cocolist(tmp_path)  # a directory


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch, where):
    path = tmp_path / "cal.pbin"
    old = _small()
    save_cocolist(path, old, META)
    before = path.read_bytes()

    def half(f, data):
        f.write(data[:len(data) // 2])
        raise OSError(28, "No space left on device")

    def boom(*a, **k):
        raise OSError(5, "I/O error")

    if where == "write":
        monkeypatch.setattr(cf, "_write_all", half)
    else:
        monkeypatch.setattr(cf.os, where, boom)
    with pytest.raises(OSError):
        save_cocolist(path, hagen_base_configuration())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_cocolist(path)[0] == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.pbin"]  # no temporary left


def test_save_keeps_the_mode_and_refuses_bad_entries(tmp_path):
    path = tmp_path / "a.pbin"
    save_cocolist(path, _small())
    os.chmod(path, 0o640)
    save_cocolist(path, _small())
    assert path.stat().st_mode & 0o777 == 0o640
    with pytest.raises(TypeError):
        save_cocolist(path, [(co.TimerOnDLS(), C.Timer())])

    bad = Cocolist()
    bad.entries.append((co.TimerOnDLS(), C.CapMemCell(value=1)))  # bypasses append's check
    with pytest.raises(TypeError, match="entry 0: CapMemCell lives at CapMemCellOnDLS"):
        save_cocolist(path, bad)

    class MyCell(C.CapMemCell):
        pass

    with pytest.raises(TypeError, match="MyCell cannot be stored"):
        save_cocolist(path, Cocolist([(co.CapMemCellOnDLS(block=0, column=0, row=0),
                                       MyCell(value=1))]))
    assert load_cocolist(path)[0] == _small()


# --- JSON view and diff ------------------------------------------------------------------------

def test_json_view_is_valid_stable_and_complete():
    cc = _small()
    cc.append(co.CapMemBlockOnDLS(block=2), _random_block(C.CapMemBlock, (130, 24), 5))
    cc.append(co.SynapseDriverOnDLS(hemisphere=1, driver=3),
              C.SynapseDriverConfig(row_mode_top=C.SynapseDriverConfig.RowMode.inhibitory))
    text = cocolist_to_json(cc, META)
    assert text == cocolist_to_json(cc, dict(reversed(META.items())))
    doc = json.loads(text)
    assert doc["format_version"] == cf.FORMAT_VERSION and doc["metadata"] == META
    e = doc["entries"]
    assert len(e) == len(cc)
    assert e[0] == {"coordinate": {"type": "CapMemCellOnDLS", "block": 1, "column": 129,
                                   "row": 23},
                    "container": {"type": "CapMemCell", "value": 1022}}
    assert e[1] == {"coordinate": {"type": "TimerOnDLS"},
                    "block_until": {"type": "Timer.Value", "value": 1000}}
    assert e[2]["container"] == {"type": "SpikePackToChip", "labels": [3, 4]}
    assert e[3]["container"]["values"] == cc.entries[3][1].values.tolist()
    assert e[4]["container"]["row_mode_top"] == 2
    assert list(e[4]["container"])[:2] == ["type", C.SynapseDriverConfig.layout.field_names[0]]
    assert json.loads(cocolist_to_json(Cocolist()))["entries"] == []
    row = _random_block(C.SynapseWeightRow, (256,), 6)
    one = Cocolist([(co.SynapseRowOnDLS(hemisphere=0, row=3), row),
                    (co.PPUMemoryBlockOnDLS(ppu=1, start=7, size=1),
                     C.PPUMemoryBlock(words=[2**32 - 1]))])
    text = cocolist_to_json(one)
    assert len(text.splitlines()) > 8  # 256 weights over several lines
    e = json.loads(text)["entries"]
    assert e[0]["container"]["weights"] == row.weights.tolist()
    assert e[1]["container"] == {"type": "PPUMemoryBlock", "words": [2**32 - 1]}


def test_diff_after_squash():
    a = hagen_base_configuration()
    b = hagen_base_configuration()
    assert not diff_cocolists(a, b)
    b.append(co.TimerOnDLS(), C.Timer.Value(10))  # waits do not count
    assert not diff_cocolists(a, b)
    cell = co.CapMemCellOnDLS(block=0, column=0, row=0)
    b.append(cell, C.CapMemCell(value=3))
    nc = co.NeuronConfigOnDLS(hemisphere=1, column=5)
    b.append(nc, C.NeuronConfig(membrane_capacitor_size=3))
    v = a.entries[0][1].values.copy()
    v[7, 2] += 1
    b.entries[0] = (b.entries[0][0], C.CapMemBlock(values=v))
    d = diff_cocolists(a, b)
    assert d.added == [(cell, C.CapMemCell(value=3))] and d.removed == []
    changed = {c: ch for c, _, _, ch in d.changed}
    (block_change,) = changed[co.CapMemBlockOnDLS(block=0)]
    assert block_change.index == (7, 2) and block_change.count == 1
    assert {ch.name for ch in changed[nc]} >= {"membrane_capacitor_size", "enable_fire"}
    assert diff_cocolists(b, a).removed == [(cell, C.CapMemCell(value=3))]


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_show(tmp_path, capsys):
    path = tmp_path / "s.pbin"
    save_cocolist(path, _small(), META)
    assert cli.main(["cocolist", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "comment       : test" in out and "chip_id       : 7" in out
    assert "entries  : 3" in out and "Timer.Value" in out
    lines = out.splitlines()
    assert "0  CapMemCellOnDLS(block=1, column=129, row=23)  CapMemCell(value=1022)" in lines
    assert "1  TimerOnDLS()  Timer.Value(value=1000)" in lines
    assert cli.main(["cocolist", "show", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(cocolist_to_json(_small(), META))


def test_cli_diff(tmp_path, capsys):
    a, b = tmp_path / "a.pbin", tmp_path / "b.pbin"
    save_cocolist(a, _small(), META)
    save_cocolist(b, _small(), {"comment": "other metadata"})
    assert cli.main(["cocolist", "diff", str(a), str(b)]) == 0
    assert "no differences" in capsys.readouterr().out
    cc = _small()
    cc.append(co.CapMemCellOnDLS(block=1, column=129, row=23), C.CapMemCell(value=5))
    cc.append(co.CapMemCellOnDLS(block=0, column=0, row=0), C.CapMemCell(value=6))
    save_cocolist(b, cc)
    assert cli.main(["cocolist", "diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "+ CapMemCellOnDLS(block=0, column=0, row=0)  CapMemCell(value=6)" in out
    assert "~ CapMemCellOnDLS(block=1, column=129, row=23)" in out
    assert "    value: 1022 -> 5" in out
    assert "1 added, 0 removed, 1 changed" in out
    assert cli.main(["cocolist", "diff", str(b), str(a)]) == 1
    assert "- CapMemCellOnDLS(block=0, column=0, row=0)" in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, b"", b"GIF89a" + bytes(40), "truncated", "flipped"])
def test_cli_bad_file_is_one_line_and_exit_2(tmp_path, capsys, content):
    path = tmp_path / "bad.pbin"
    good = encode_cocolist(_small(), META)
    if content == "truncated":
        content = good[:-10]
    elif content == "flipped":
        content = good[:40] + bytes([good[40] ^ 4]) + good[41:]
    if content is not None:
        path.write_bytes(content)
    for argv in (["show", str(path)], ["show", "--json", str(path)],
                 ["diff", str(path), str(path)]):
        assert cli.main(["cocolist", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hxemu: error: ") and str(path) in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_bad_file_without_traceback_as_a_process(tmp_path):
    path = tmp_path / "x.pbin"
    path.write_bytes(b"HXEMUCOC\x09\x00")
    r = subprocess.run([sys.executable, "-m", "frontend.cli", "cocolist", "show", str(path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"hxemu: error: {path}: truncated: 10 bytes, shorter than the 20-byte " \
                       "header\n"
