"""The Yin-Yang job itself: calibration, mock parameters, the mock phase, the transfer onto
the chip and the hardware-in-the-loop phase, with accuracies, figures and `summary.json`."""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import core, perceptron
from ..datasets import YinYangDataset, canonical_split
from ..helpers import save_nightly_calibration, save_or_keep
from .recipes import RECIPES, Phase

GRID_SIZE = 16  # the tutorial's grid of test points, prepended to every batch
MAP_SIZE = 48  # resolution of the decision-map figures
TRAIN_DATA_SEED_OFFSET = 1000  # training data seed = 1000 + seed (canonical splits use 40-42)


class Model(torch.nn.Module):
    """Classify the YinYang dataset (the tutorial's model, verbatim)."""

    def __init__(self, mock: bool = False):
        super().__init__()
        self.classifier = torch.nn.Sequential(
            perceptron.nn.Linear(4, 128, mock=mock),
            perceptron.nn.ConvertingReLU(shift=1),
            perceptron.nn.Linear(128, 3, avg=5, mock=mock),
        )

    def forward(self, *x):
        x = x[0] * 31.  # scale to the whole input range
        x = self.classifier(x)
        return x


@dataclass
class Options:
    recipe: str = "best"
    chip_id: int | str | None = None
    seed: int = 0
    output: str = "yinyang-out"
    mock_epochs: int | None = None
    hardware_epochs: int | None = None
    uncalibrated: bool = False
    hardware_phase_mock: bool = False
    figures: bool = True
    progress: bool = True


@dataclass
class History:
    """Per step: training loss and batch accuracy; every `select_every` steps: validation."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)


def grid_inputs(size: int) -> torch.Tensor:
    """The tutorial's test grid: (size * size, 4) inputs (x, y, 1-x, 1-y), x major."""
    x = y = torch.linspace(0, 1, size)
    x, y = torch.meshgrid(x, y, indexing="ij")
    x, y = x.flatten(), y.flatten()
    return torch.stack((x, y, 1 - x, 1 - y), dim=1)


def accuracy(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(inputs).argmax(1) == labels).float().mean().item()


def decision_map(model: torch.nn.Module, size: int = MAP_SIZE) -> np.ndarray:
    """Softmax outputs on a size x size grid, indexed [y, x, class] (the tutorial's layout)."""
    model.eval()
    with torch.no_grad():
        out = F.softmax(model(grid_inputs(size)), dim=-1)
    return torch.transpose(out.reshape(size, size, -1), 0, 1).numpy()


def _scheduler(optimizer: torch.optim.Optimizer, phase: Phase, steps: int):
    if phase.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=phase.gamma)
    if phase.schedule == "cosine":
        floor = phase.final_lr_fraction
        span = max(steps - 1, 1)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(k, span)
                                                                           / span)))
    raise ValueError(f"unknown schedule {phase.schedule!r}")


def train_phase(model: torch.nn.Module, phase: Phase, data: YinYangDataset, name: str,
                validation: tuple[torch.Tensor, torch.Tensor], progress: bool) -> History:
    """Train `model` for one phase (Adam on fresh batches), the tutorial's loop generalised."""
    from tqdm import tqdm

    history = History()
    steps = phase.steps
    optimizer = torch.optim.Adam(model.parameters(), lr=phase.lr)
    scheduler = _scheduler(optimizer, phase, steps)
    grid = grid_inputs(GRID_SIZE) if phase.prepend_grid else None
    best = (-1.0, None)
    bar = tqdm(range(steps), desc=f"{name:>8} phase", unit="step", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    for step in bar:
        inputs, target = data.draw(phase.batch_size)
        if grid is not None:
            inputs = torch.cat((grid, inputs))
        model.train()
        optimizer.zero_grad()
        output = model(inputs)
        if grid is not None:
            output = output[len(grid):]
        loss = F.cross_entropy(output, target)
        loss.backward()
        optimizer.step()
        scheduler.step()
        history.loss.append(loss.item())
        history.accuracy.append((output.argmax(1) == target).float().mean().item())
        postfix = {"loss": f"{history.loss[-1]:.3f}", "acc": f"{history.accuracy[-1]:.3f}"}
        if phase.select_every and ((step + 1) % phase.select_every == 0 or step + 1 == steps):
            acc = accuracy(model, *validation)
            history.validation.append((step + 1, acc))
            if acc > best[0]:
                best = (acc, copy.deepcopy(model.state_dict()))
            postfix["val"] = f"{acc:.3f}"
        bar.set_postfix(postfix, refresh=False)
    bar.close()
    if best[1] is not None:
        model.load_state_dict(best[1])
    return history


def _connect(options: Options, out: Path) -> tuple[int | str, str | None]:
    """Calibration (unless uncalibrated) and the global connection, as in the tutorial."""
    chip_id = core.resolve_chip_id(options.chip_id)
    if options.uncalibrated:
        core.init_hardware_minimal(chip_id=chip_id, seed=options.seed)
        return chip_id, None
    path = save_nightly_calibration("hagen_cocolist.pbin", folder=out, chip_id=chip_id)
    core.init_hardware(core.CalibrationPath(path), chip_id=chip_id, seed=options.seed)
    return chip_id, str(path)


def run(options: Options) -> dict:
    """The whole job; returns the summary that is also written to `output/summary.json`."""
    start = time.perf_counter()
    recipe = RECIPES[options.recipe]
    mock_phase, hw_phase = recipe.mock, recipe.hardware
    if options.mock_epochs is not None:
        mock_phase = replace(mock_phase, epochs=options.mock_epochs)
    if options.hardware_epochs is not None:
        hw_phase = replace(hw_phase, epochs=options.hardware_epochs)
    out = Path(options.output)
    out.mkdir(parents=True, exist_ok=True)
    previous_parameter = perceptron.get_mock_parameter()
    torch.manual_seed(options.seed)
    times: dict[str, float] = {}
    try:
        t = time.perf_counter()
        chip_id, calibration_path = _connect(options, out)
        # measures the hardware gain and the average statistical noise on the outputs
        parameter = perceptron.measure_mock_parameter()
        perceptron.set_mock_parameter(parameter)
        times["setup_s"] = time.perf_counter() - t
        state = "uncalibrated" if options.uncalibrated else "calibrated"
        print(f"chip {chip_id} ({state}), recipe {recipe.name}, seed {options.seed}")
        print(f"gain factor: {parameter.gain:.5f}")
        print(f"noise std.:  {parameter.noise_std:.5f}")

        test = canonical_split("test")
        validation = canonical_split("validation")
        data = YinYangDataset(size=mock_phase.batch_size,
                              seed=TRAIN_DATA_SEED_OFFSET + options.seed)

        t = time.perf_counter()
        model_mock = Model(mock=True)
        hist_mock = train_phase(model_mock, mock_phase, data, "mock", validation,
                                options.progress)
        times["mock_phase_s"] = time.perf_counter() - t
        acc_mock = accuracy(model_mock, *test)
        print(f"test accuracy after the mock phase:      {acc_mock:.2%}")

        model_hw = Model(mock=options.hardware_phase_mock)
        # initialize with state of mock model
        model_hw.load_state_dict(model_mock.state_dict())
        acc_transfer = accuracy(model_hw, *test)
        label = "mock model in mock mode (control)" if options.hardware_phase_mock \
            else "mock model on the chip, unchanged"
        print(f"test accuracy, {label}: {acc_transfer:.2%}")
        maps = {"mock": decision_map(model_mock), "transfer": decision_map(model_hw)}

        t = time.perf_counter()
        hist_hw = train_phase(model_hw, hw_phase, data,
                              "mock hw" if options.hardware_phase_mock else "hardware",
                              validation, options.progress)
        times["hardware_phase_s"] = time.perf_counter() - t
        acc_hw = accuracy(model_hw, *test)
        print(f"test accuracy after the hardware phase:  {acc_hw:.2%}")
        maps["hardware"] = decision_map(model_hw)
        predictions = {}
        for name, model in (("mock", model_mock), ("hardware", model_hw)):
            model.eval()
            with torch.no_grad():
                predictions[name] = model(test[0]).argmax(1).numpy()
    finally:
        core.release_hardware()
        perceptron.set_mock_parameter(previous_parameter)
    accuracies = {"mock": acc_mock, "transfer": acc_transfer, "hardware": acc_hw}
    files = []
    if options.figures:
        t = time.perf_counter()
        from . import plots

        files = plots.write_all(out, data_seed=TRAIN_DATA_SEED_OFFSET + options.seed,
                                test=test, maps=maps, accuracies=accuracies,
                                predictions=predictions, histories=(hist_mock, hist_hw),
                                hardware_phase_mock=options.hardware_phase_mock)
        times["figures_s"] = time.perf_counter() - t
    summary = {
        "recipe": recipe.name,
        "chip_id": chip_id,
        "calibrated": not options.uncalibrated,
        "calibration": calibration_path,
        "seed": options.seed,
        "hardware_phase_mock": options.hardware_phase_mock,
        "gain": parameter.gain,
        "noise_std": parameter.noise_std,
        "accuracy_mock": acc_mock,
        "accuracy_transfer": acc_transfer,
        "accuracy_hardware": acc_hw,
        "mock_phase": {**asdict(mock_phase), "steps": mock_phase.steps},
        "hardware_phase": {**asdict(hw_phase), "steps": hw_phase.steps},
        "validation_mock": hist_mock.validation,
        "validation_hardware": hist_hw.validation,
        "times": {k: round(v, 3) for k, v in times.items()},
        "files": [f.name for f in files],
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    save_or_keep(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode(),
                 "summary")
    print(f"wrote {out / 'summary.json'}" + (f" and {len(files)} figures" if files else "")
          + f" ({summary['wall_time_s']:.1f} s)")
    return summary
