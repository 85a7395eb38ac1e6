"""Data-parallel hardware-in-the-loop training on two emulated chips (torchrun, gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ddp_yinyang.py"


def _run(cmd, tmp_path, out):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    for name in ("QUIGGELDY_ENABLED", "RANK", "WORLD_SIZE", "HXEMU_CHIP_ID"):
        env.pop(name, None)
    r = subprocess.run([*cmd, str(EXAMPLE), "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_ranks_on_two_chips_match_the_single_chip_result(tmp_path):
    single = _run([sys.executable], tmp_path, tmp_path / "single.json")
    ddp = _run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-port", "29517"], tmp_path, tmp_path / "ddp.json")
    ranks = ddp["ranks"]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert sorted(r["chip_id"] for r in ranks) == [0, 1]  # a different chip per rank
    assert ranks[0]["gain"] != ranks[1]["gain"]
    one = single["ranks"][0]["accuracy_hardware"]
    assert one > 0.8
    # The two runs see other data and noise draws. Over --seed 1-7 the mean of the two ranks
    # minus the single chip was -0.10..+0.03 (-0.023 on average), with the mock's noise
    # generator of the landed version and with the current one alike: the bar for both is
    # the single chip's, and the difference only catches a gross failure.
    mean = ddp["accuracy_hardware_mean"]
    assert mean > 0.8
    assert abs(mean - one) <= 0.06
