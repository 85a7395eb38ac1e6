"""hxtorch's MNIST example: a small convolutional network trained on the (emulated) chip.

Model (as in hxtorch): `Conv2d(1, 20, kernel_size=10, stride=5, padding=1, bias=False,
num_sends=None, wait_between_events=2, input_transform=scale_input)`, `ConvertingReLU(shift=1)`,
flatten, `Linear(500, 128, bias=False, num_sends=None, wait_between_events=2)`,
`ConvertingReLU(shift=1)`, `Linear(128, 10, bias=False, num_sends=None,
wait_between_events=2)`; Adam, a StepLR per epoch, cross entropy. In hardware mode the mock
parameter is measured on the chip before the model is built (the layers' initialisation and
automatic `num_sends` depend on it).

Data: `<data-path>/MNIST/processed/training.pt` and `test.pt` in torchvision's processed format,
each a tuple of a uint8 tensor (N, 28, 28) and an int64 label tensor (N). Nothing is
downloaded: missing files are a FileNotFoundError that names them.

    python -m hxtorch.examples.perceptron.mnist --data-path DIR [--mock] [--epochs 20] ...
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

import frontend as hxtorch  # `hxtorch` is this package's second name (docs/frontend.md)
from frontend import logger
from frontend import perceptron as hxtorch_ann

FILES = {True: "training.pt", False: "test.pt"}
IMAGE_SHAPE = (28, 28)
CLASSES = 10


def mnist_files(root: str | os.PathLike) -> dict[bool, Path]:
    """The processed files under `root` ({train: path})."""
    return {train: Path(root) / "MNIST" / "processed" / name for train, name in FILES.items()}


def load_mnist(root: str | os.PathLike, train: bool) -> TensorDataset:
    """One MNIST split from torchvision's processed file: (uint8 image (1, 28, 28), label).

    FileNotFoundError naming both expected files if it is missing; ValueError naming the file if
    it is not a (uint8 (N, 28, 28), int64 (N) in 0..9) tuple.
    """
    files = mnist_files(root)
    path = files[train]
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST not found: expected {files[True]} and {files[False]} (torchvision's "
            "processed format: a tuple of a uint8 tensor N x 28 x 28 and an int64 label tensor "
            "N). Nothing is downloaded; pass --data-path or set HXTORCH_DATASETS_PATH.")
    try:
        content = torch.load(path, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a torch file of MNIST tensors: {e}") from e
    ok = isinstance(content, tuple | list) and len(content) == 2 and all(
        isinstance(t, torch.Tensor) for t in content)
    if ok:
        data, targets = content
        ok = (data.dtype == torch.uint8 and tuple(data.shape[1:]) == IMAGE_SHAPE
              and targets.dtype == torch.int64 and targets.shape == data.shape[:1])
    if not ok:
        raise ValueError(f"{path} must hold a tuple (uint8 tensor N x 28 x 28, int64 tensor N) "
                         "as torchvision's processed MNIST files do")
    if targets.numel() and not 0 <= int(targets.min()) <= int(targets.max()) < CLASSES:
        raise ValueError(f"{path}: labels must be in 0..{CLASSES - 1}")
    return TensorDataset(data.unsqueeze(1), targets)


class Model(torch.nn.Module):
    """hxtorch's MNIST network (500 features from the 30 x 30 padded image)."""

    def __init__(self, mock: bool) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            hxtorch_ann.nn.Conv2d(1, 20, kernel_size=10, stride=5, padding=1, bias=False,
                                  num_sends=None, wait_between_events=2, mock=mock,
                                  input_transform=hxtorch_ann.nn.scale_input),
            hxtorch_ann.nn.ConvertingReLU(shift=1, mock=mock))
        self.classifier = torch.nn.Sequential(
            hxtorch_ann.nn.Linear(500, 128, bias=False, num_sends=None, wait_between_events=2,
                                  mock=mock),
            hxtorch_ann.nn.ConvertingReLU(shift=1, mock=mock),
            hxtorch_ann.nn.Linear(128, 10, bias=False, num_sends=None, wait_between_events=2,
                                  mock=mock))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def train(model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer) -> float:
    """One epoch; returns the mean training loss."""
    model.train()
    total, count = 0.0, 0
    for data, target in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(data), target)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(target)
        count += len(target)
    return total / max(count, 1)


def test(model: torch.nn.Module, loader: DataLoader) -> tuple[float, float]:
    """(mean loss, accuracy) on `loader`; logged on `hxtorch.examples.mnist`."""
    model.eval()
    loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            loss += F.cross_entropy(output, target, reduction="sum").item()
            correct += int((output.argmax(dim=1) == target).sum())
            count += len(target)
    loss, accuracy = loss / max(count, 1), correct / max(count, 1)
    logger.get("hxtorch.examples.mnist").INFO(
        f"Test set: average loss {loss:.4f}, accuracy {correct}/{count} ({100 * accuracy:.1f} %)")
    return loss, accuracy


def shrink_dataset(dataset: Dataset, fraction: float) -> Dataset:
    """A random subset of int(fraction * len) samples (torch's global generator)."""
    return Subset(dataset, torch.randperm(len(dataset))[:int(fraction * len(dataset))].tolist())


def init(calibration_path: str | None, mock: bool, mock_noise_std: float,
         mock_gain: float) -> None:
    """Set the mock parameter: given (mock) or measured on the chip (hardware mode, after
    connecting with the calibration at `calibration_path` or without one)."""
    if mock:
        parameter = hxtorch_ann.MockParameter(noise_std=mock_noise_std, gain=mock_gain)
    else:
        if calibration_path:
            hxtorch.init_hardware(hxtorch.CalibrationPath(calibration_path))
        else:
            hxtorch.init_hardware()
        parameter = hxtorch_ann.measure_mock_parameter()
    hxtorch_ann.set_mock_parameter(parameter)


def _check(args: argparse.Namespace) -> None:
    for name in ("batch_size", "test_batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(args, name)}")
    if args.epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {args.epochs}")
    if not 0 < args.dataset_fraction <= 1:
        raise ValueError(f"dataset_fraction must be in (0, 1], got {args.dataset_fraction}")


def _save(path: Path, state: dict) -> None:
    """Write atomically: a crash leaves the previous checkpoint, never a torn one."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(args: argparse.Namespace) -> float:
    """Train and test as hxtorch's example does; returns the final test accuracy (0..1)."""
    _check(args)
    log = logger.get("hxtorch.examples.mnist")
    torch.manual_seed(args.seed)
    train_data = load_mnist(args.data_path, train=True)
    test_data = load_mnist(args.data_path, train=False)
    if args.dataset_fraction < 1:
        train_data = shrink_dataset(train_data, args.dataset_fraction)
        test_data = shrink_dataset(test_data, args.dataset_fraction)
    train_loader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_data, batch_size=args.test_batch_size)
    try:
        init(args.calibration_path, args.mock, args.mock_noise_std, args.mock_gain)
        model = Model(mock=args.mock)
        log.INFO(f"model:\n{model}")
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=args.gamma)
        first_epoch = 1
        if args.resume_from:
            state = torch.load(args.resume_from, weights_only=True)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            first_epoch = int(state["epoch"]) + 1
            log.INFO(f"resumed from {args.resume_from} after epoch {first_epoch - 1}")
        _, accuracy = test(model, test_loader)
        for epoch in range(first_epoch, args.epochs + 1):
            loss = train(model, train_loader, optimizer)
            log.INFO(f"Train epoch {epoch}: average loss {loss:.4f}")
            _, accuracy = test(model, test_loader)
            scheduler.step()
            if args.checkpoint_path:
                directory = Path(args.checkpoint_path)
                directory.mkdir(parents=True, exist_ok=True)
                _save(directory / f"state_{epoch}.pth", {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch})
    finally:
        hxtorch.release_hardware()
    return accuracy


def get_parser() -> argparse.ArgumentParser:
    """hxtorch's options and defaults."""
    defaults = hxtorch_ann.constants.defaults
    p = argparse.ArgumentParser(description="hxtorch MNIST example (BrainScaleS-2, emulated)")
    p.add_argument("--batch-size", type=int, default=1000, help="training batch size")
    p.add_argument("--test-batch-size", type=int, default=2000, help="test batch size")
    p.add_argument("--epochs", type=int, default=20, help="training epochs")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate (Adam)")
    p.add_argument("--gamma", type=float, default=0.99, help="learning rate step gamma")
    p.add_argument("--mock", action="store_true", default=False,
                   help="use the software model instead of the chip")
    p.add_argument("--mock-noise-std", type=float, default=defaults.noise_std,
                   help="noise std of the mock model")
    p.add_argument("--mock-gain", type=float, default=defaults.gain,
                   help="gain of the mock model")
    p.add_argument("--seed", type=lambda text: int(text, 0), default=0x5EEED,
                   help="random seed (decimal or 0x...)")
    p.add_argument("--data-path", type=str,
                   default=os.environ.get("HXTORCH_DATASETS_PATH", "."),
                   help="folder with MNIST/processed/{training,test}.pt "
                        "(default: $HXTORCH_DATASETS_PATH or .)")
    p.add_argument("--checkpoint-path", type=str, default="",
                   help="folder for state_<epoch>.pth after every epoch ('' = none)")
    p.add_argument("--resume-from", type=str, default="", help="checkpoint to resume from")
    p.add_argument("--calibration-path", type=str,
                   default=os.environ.get("HXTORCH_CALIBRATION_PATH"),
                   help="calibration to load in hardware mode "
                        "(default: $HXTORCH_CALIBRATION_PATH)")
    p.add_argument("--dataset-fraction", type=float, default=1.0,
                   help="fraction of the data sets to use")
    return p


if __name__ == "__main__":
    parser = get_parser()
    arguments = parser.parse_args()
    try:
        ACCURACY = main(arguments)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    sys.exit(0)
