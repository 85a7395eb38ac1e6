"""The Yin-Yang job on the shared training mechanism (`frontend.train.engine`): the
tutorial's model and data, the decision maps after each phase, and `run(Options)` for
`hxemu yinyang` (no float baseline, so its time is the tutorial workflow's alone)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import perceptron
from ..datasets import YinYangDataset, canonical_split
from ..train import engine
from ..train.jobs import register
from .recipes import RECIPES

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


class FloatModel(torch.nn.Module):
    """The tutorial's architecture as a plain torch model (the float baseline)."""

    def __init__(self):
        super().__init__()
        self.classifier = torch.nn.Sequential(torch.nn.Linear(4, 128), torch.nn.ReLU(),
                                              torch.nn.Linear(128, 3))

    def forward(self, x):
        return self.classifier(x * 31.)


def grid_inputs(size: int) -> torch.Tensor:
    """The tutorial's test grid: (size * size, 4) inputs (x, y, 1-x, 1-y), x major."""
    x = y = torch.linspace(0, 1, size)
    x, y = torch.meshgrid(x, y, indexing="ij")
    x, y = x.flatten(), y.flatten()
    return torch.stack((x, y, 1 - x, 1 - y), dim=1)


def decision_map(model: torch.nn.Module, size: int = MAP_SIZE) -> np.ndarray:
    """Softmax outputs on a size x size grid, indexed [y, x, class] (the tutorial's layout)."""
    model.eval()
    with torch.no_grad():
        out = F.softmax(model(grid_inputs(size)), dim=-1)
    return torch.transpose(out.reshape(size, size, -1), 0, 1).numpy()


@register
class YinYangJob(engine.Job):
    """The BSS-2 tutorial "Train DNNs on BrainScaleS-2": fresh samples every step."""

    name = "yinyang"
    description = "the Yin-Yang tutorial: Linear(4, 128) + Linear(128, 3)"
    recipes = RECIPES
    default_recipe = "best"
    class_names = ("yin", "yang", "dot")
    sample_kind = "points"
    input_shape = (4,)
    probe = grid_inputs(GRID_SIZE)

    def data(self, options: engine.Options) -> engine.Data:
        return engine.Data(
            train=lambda: YinYangDataset(size=0, seed=TRAIN_DATA_SEED_OFFSET + options.seed),
            validation=canonical_split("validation"), test=canonical_split("test"),
            split={"train": f"fresh samples every step, YinYangDataset(seed=1000 + "
                            f"{options.seed})",
                   "validation": "canonical_split('validation') (1000, seed 41)",
                   "test": "canonical_split('test') (1000, seed 40)"})

    def layers(self, mode: str) -> torch.nn.Module:
        return FloatModel() if mode == "float" else Model(mock=mode == "mock")

    def after_transfer(self, model_mock, model_hw, extras: dict) -> None:
        extras["maps"] = {"mock": decision_map(model_mock), "transfer": decision_map(model_hw)}

    def after_hardware(self, model_hw, extras: dict) -> None:
        extras["maps"]["hardware"] = decision_map(model_hw)

    def figures(self, out: Path, result: dict) -> list[Path]:
        from . import plots

        if "hardware" not in result["accuracies"]:  # --mock-only: no maps of the chip
            return super().figures(out, result)
        return plots.write_all(out, data_seed=TRAIN_DATA_SEED_OFFSET + result["options"].seed,
                               result=result)


@dataclass
class Options:
    """The options of `hxemu yinyang` (see `frontend.train.engine.Options` for `train`)."""

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


def run(options: Options) -> dict:
    """The whole job; returns the summary that is also written to `output/summary.json`."""
    return engine.run(YinYangJob(), engine.Options(job="yinyang", float_baseline=False,
                                                   **vars(options)))
