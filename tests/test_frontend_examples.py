"""hxtorch.examples.perceptron: minimal and mnist (on small generated MNIST files)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hxtorch
from frontend import core
from hxtorch import perceptron as hxp
from hxtorch.examples.perceptron import minimal, mnist

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    for k in ("HXEMU_CHIP_ID", "HXEMU_SEED", "QUIGGELDY_ENABLED", "HXTORCH_DATASETS_PATH",
              "HXTORCH_CALIBRATION_PATH"):
        monkeypatch.delenv(k, raising=False)
    yield
    hxtorch.release_hardware()
    core._state.calibration = None
    hxp.set_mock_parameter(hxp.MockParameter())


def write_mnist(root: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """A learnable stand-in for MNIST in torchvision's processed format: each class is a bright
    8 x 5 block at its own place on noise."""
    g = torch.Generator().manual_seed(seed)
    folder = root / "MNIST" / "processed"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("training.pt", n_train), ("test.pt", n_test)):
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.randint(0, 60, (n, 28, 28), generator=g, dtype=torch.uint8)
        for c in range(10):
            r, col = divmod(c, 5)
            images[labels == c, 4 + 10 * r:12 + 10 * r, 1 + 5 * col:6 + 5 * col] = 255
        torch.save((images, labels), folder / name)
    return root


def test_minimal_on_the_ideal_chip(monkeypatch, capsys):
    monkeypatch.setenv("HXEMU_CHIP_ID", "ideal")
    out = minimal.main(minimal.get_parser().parse_args([]))
    assert out.shape == (256,) and torch.all(out == 51)  # floor(10 * 20 * 128 * 0.002)
    assert capsys.readouterr().out == "mean output: 51.0\n"
    with pytest.raises(RuntimeError, match="No connection allocated."):
        hxtorch.get_unique_identifier()  # released


def test_parser_has_hxtorchs_options_and_defaults(monkeypatch):
    monkeypatch.setenv("HXTORCH_DATASETS_PATH", "/data")
    monkeypatch.setenv("HXTORCH_CALIBRATION_PATH", "/calib.pbin")
    args = mnist.get_parser().parse_args([])
    assert vars(args) == {
        "batch_size": 1000, "test_batch_size": 2000, "epochs": 20, "lr": 1.0, "gamma": 0.99,
        "mock": False, "mock_noise_std": 2.0, "mock_gain": 0.002, "seed": 0x5EEED,
        "data_path": "/data", "checkpoint_path": "", "resume_from": "",
        "calibration_path": "/calib.pbin", "dataset_fraction": 1.0}
    monkeypatch.delenv("HXTORCH_DATASETS_PATH")
    monkeypatch.delenv("HXTORCH_CALIBRATION_PATH")
    args = mnist.get_parser().parse_args(["--seed", "0x10"])
    assert args.data_path == "." and args.calibration_path is None and args.seed == 16


def test_model_is_hxtorchs(monkeypatch):
    hxp.set_mock_parameter(hxp.MockParameter())
    model = mnist.Model(mock=True)
    text = str(model)
    assert "Conv2d(in_channels=1, out_channels=20, kernel_size=(10, 10), stride=(5, 5), " \
           "padding=(1, 1), dilation=(1, 1), bias=None, num_sends=7, wait_between_events=2, " \
           "mock=True, input_transform=<function scale_input" in text
    assert "Linear(in_features=500, out_features=128, bias=None, num_sends=4, " \
           "wait_between_events=2, mock=True)" in text
    assert "Linear(in_features=128, out_features=10, bias=None, num_sends=6, " \
           "wait_between_events=2, mock=True)" in text
    assert model(torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)).shape == (3, 10)


def test_mock_training_learns_checkpoints_and_resumes(tmp_path):
    data = write_mnist(tmp_path / "data")
    checkpoints = tmp_path / "ckpt"
    parser = mnist.get_parser()
    args = parser.parse_args(["--data-path", str(data), "--mock", "--epochs", "1",
                              "--batch-size", "50", "--test-batch-size", "100",
                              "--checkpoint-path", str(checkpoints)])
    accuracy = mnist.main(args)
    assert accuracy > 0.8  # chance is 0.1
    state = torch.load(checkpoints / "state_1.pth", weights_only=True)
    assert state["epoch"] == 1 and not list(checkpoints.glob("*.tmp"))
    args = parser.parse_args(["--data-path", str(data), "--mock", "--epochs", "2",
                              "--batch-size", "50", "--dataset-fraction", "0.5",
                              "--resume-from", str(checkpoints / "state_1.pth"),
                              "--checkpoint-path", str(checkpoints)])
    assert mnist.main(args) > 0.8
    assert sorted(p.name for p in checkpoints.iterdir()) == ["state_1.pth", "state_2.pth"]


def test_missing_and_malformed_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"expected .*MNIST/processed/training\.pt and "
                       r".*MNIST/processed/test\.pt .*Nothing is downloaded"):
        mnist.load_mnist(tmp_path, train=True)
    folder = tmp_path / "MNIST" / "processed"
    folder.mkdir(parents=True)
    torch.save((torch.zeros(2, 28, 28), torch.zeros(2, dtype=torch.int64)), folder / "test.pt")
    with pytest.raises(ValueError, match=r"test\.pt must hold a tuple \(uint8 tensor"):
        mnist.load_mnist(tmp_path, train=False)
    torch.save((torch.zeros(2, 28, 28, dtype=torch.uint8), torch.tensor([0, 10])),
               folder / "test.pt")
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9"):
        mnist.load_mnist(tmp_path, train=False)
    (folder / "training.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="is not a torch file"):
        mnist.load_mnist(tmp_path, train=True)
    args = mnist.get_parser().parse_args(["--data-path", str(tmp_path), "--mock",
                                          "--dataset-fraction", "0"])
    with pytest.raises(ValueError, match="dataset_fraction must be in"):
        mnist.main(args)


@pytest.mark.parametrize("mode", [["--mock"], []], ids=["mock", "chip"])
def test_python_dash_m_runs_in_both_modes(tmp_path, mode):
    """The issue's command: one epoch on a tenth of the data, in mock mode and on the chip."""
    data = write_mnist(tmp_path, n_train=200, n_test=100)
    result = subprocess.run(
        [sys.executable, "-m", "hxtorch.examples.perceptron.mnist", "--data-path", str(data),
         "--epochs", "1", "--dataset-fraction", "0.1", *mode],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**_env(), "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "Test set: average loss" in result.stderr
    assert ("Obtained gain=" in result.stderr) is (not mode)  # measured on the chip
    if not mode:
        return
    missing = subprocess.run(
        [sys.executable, "-m", "hxtorch.examples.perceptron.mnist", "--data-path",
         str(tmp_path / "nowhere"), *mode], cwd=ROOT, capture_output=True, text=True,
        timeout=600, env={**_env(), "PYTHONPATH": str(ROOT)})
    assert missing.returncode == 2 and "MNIST not found: expected" in missing.stderr
    run = subprocess.run([sys.executable, "-m", "hxtorch.examples.perceptron.minimal"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600,
                         env={**_env(), "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0 and run.stdout.startswith("mean output: "), run.stderr


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith(("QUIGGELDY", "HXEMU"))}
