"""The training mechanism shared by every job (`hxemu train JOB`, `hxemu yinyang`).

A job (`Job`) supplies its data (`Data`), its model in three modes (plain torch float, mock,
hardware) and its recipes; `run` does the rest, the BSS-2 hardware-in-the-loop workflow:
calibration and `init_hardware`, `measure_mock_parameter`, the mock phase, the transfer of the
mock model's `state_dict` onto the chip, the hardware-in-the-loop phase, test accuracies after
each phase, the modelled chip time per sample, the float baseline, figures and
`summary.json`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import core, perceptron
from ..helpers import save_nightly_calibration, save_or_keep
from .recipes import Phase, Recipe

EVAL_BATCH = 1000  # samples per forward pass when evaluating (bounds the chip program size)
# torch intra-op threads while a job runs: the jobs' tensors are small, and on a busy 2-core
# host two threads wait on each other (digits, mock phase: 18 s with one thread, 160 s with
# two at a load of 6)
THREADS = 1
MODES = ("float", "mock", "hardware")


@dataclass
class History:
    """Per step: training loss and batch accuracy; every `select_every` steps: validation."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)


class Shuffled:
    """Batches from a fixed training set: a fresh permutation per pass, seeded (its own
    generator, so the global torch RNG is not touched)."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, seed: int) -> None:
        if len(inputs) != len(labels) or len(inputs) == 0:
            raise ValueError(f"need as many labels as inputs (> 0), got {len(inputs)} inputs "
                             f"and {len(labels)} labels")
        self.inputs, self.labels = inputs, labels
        self.generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.inputs)

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        while len(self._order) < n:
            self._order = torch.cat((self._order, torch.randperm(len(self.inputs),
                                                                 generator=self.generator)))
        index, self._order = self._order[:n], self._order[n:]
        return self.inputs[index], self.labels[index]


@dataclass
class Data:
    """A job's data: `train()` makes the seeded source of training batches (an object with
    `draw(n)`; called once for the chip phases, once more for the float baseline), `n_train`
    its size (None: fresh samples per draw), the fixed validation and test splits, and the
    split's description for summary.json."""

    train: Callable[[], Any]
    validation: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    split: dict
    n_train: int | None = None


class Job:
    """What a job defines; `run` does the rest. Subclasses set the class attributes and
    implement `data` and `layers`."""

    name: str = ""
    description: str = ""
    recipes: dict[str, Recipe] = {}
    default_recipe: str = "best"
    class_names: tuple[str, ...] = ()
    sample_kind: str = "image"  # how the figures draw a sample: "image", "sequence", "points"
    input_shape: tuple[int, ...] = ()  # one sample, without the batch dimension
    probe: torch.Tensor | None = None  # inputs a phase with prepend_grid prepends

    def data(self, options: Options) -> Data:
        raise NotImplementedError

    def model(self, mode: str) -> torch.nn.Module:
        """The job's model in `mode` ("float": plain torch layers, "mock", "hardware")."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        return self.layers(mode)

    def layers(self, mode: str) -> torch.nn.Module:
        raise NotImplementedError

    def after_transfer(self, model_mock, model_hw, extras: dict) -> None:
        """Hook after the transfer (Yin-Yang: the decision maps)."""

    def after_hardware(self, model_hw, extras: dict) -> None:
        """Hook after the hardware phase."""

    def figures(self, out: Path, result: dict) -> list[Path]:
        from . import plots

        return plots.write_all(out, self, result)


@dataclass
class Options:
    job: str = "yinyang"
    recipe: str | None = None  # None: the job's default recipe
    chip_id: int | str | None = None
    seed: int = 0
    output: str | None = None  # None: ./{job}-out
    mock_epochs: int | None = None
    hardware_epochs: int | None = None
    uncalibrated: bool = False
    hardware_phase_mock: bool = False
    mock_only: bool = False
    float_baseline: bool = True
    data_path: str | None = None
    figures: bool = True
    progress: bool = True


# -- evaluation ------------------------------------------------------------------------------


def predict(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Predicted classes, `EVAL_BATCH` samples per forward pass."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(inputs[i:i + EVAL_BATCH]).argmax(1)
                          for i in range(0, len(inputs), EVAL_BATCH)])


def accuracy(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    return (predict(model, inputs) == labels).float().mean().item()


@contextlib.contextmanager
def chip_time_meter() -> Iterator[list[float]]:
    """Sums the modelled chip time (`RunInfo.chip_time_s`) of every program run on the global
    connection inside the block; yields a one-element list holding the sum."""
    conn = core.connection()
    total = [0.0]
    run = conn.run

    def counted(program):
        info = run(program)
        total[0] += info.chip_time_s
        return info

    conn.run = counted
    try:
        yield total
    finally:
        del conn.run  # the class's method again


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n: int) -> np.ndarray:
    """[true class, predicted class] counts."""
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


# -- training --------------------------------------------------------------------------------


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


def train_phase(model: torch.nn.Module, phase: Phase, data, name: str,
                validation: tuple[torch.Tensor, torch.Tensor], progress: bool,
                probe: torch.Tensor | None = None) -> History:
    """Train `model` for one phase (Adam on `data.draw(batch_size)` per step), the tutorial's
    loop generalised; `probe` is prepended to every batch if the phase says so."""
    from tqdm import tqdm

    history = History()
    steps = phase.steps
    optimizer = torch.optim.Adam(model.parameters(), lr=phase.lr)
    scheduler = _scheduler(optimizer, phase, steps)
    grid = probe if phase.prepend_grid else None
    best = (-1.0, None)
    if phase.select_every and phase.select_initial:
        acc = accuracy(model, *validation)
        history.validation.append((0, acc))
        best = (acc, copy.deepcopy(model.state_dict()))
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


# -- how the model maps onto the chip --------------------------------------------------------


def _matrix(layer, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(inputs, outputs, rows per sample) of the MAC that `layer` runs for one input `shape`
    (without the batch dimension)."""
    nn = perceptron.nn
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features * layer.avg, math.prod(shape[:-1])
    pads = [p for p in layer._reversed_padding_repeated_twice]
    sizes = [s + pads[2 * (len(shape) - 2 - i)] + pads[2 * (len(shape) - 2 - i) + 1]
             for i, s in enumerate(shape[1:])]
    k, s = layer.kernel_size, layer.stride
    if isinstance(layer, nn.ExpandedConv1d):
        e = layer.num_expansions
        k_new = k[0] + s[0] * (e - 1)
        length = sizes[0]
        l_out = (length - k[0]) // s[0] + 1
        l_out_new = ((length - k_new) // (s[0] * e) + 1) * e if length >= k_new else 0
        if l_out > l_out_new:
            length += s[0] * e
        return layer.in_channels * k_new, layer.out_channels * e, \
            (length - k_new) // (s[0] * e) + 1
    rows = math.prod((n - kk) // ss + 1 for n, kk, ss in zip(sizes, k, s))
    return layer.in_channels * math.prod(k), layer.out_channels, rows


def chip_mapping(model: torch.nn.Module, input_shape: tuple[int, ...]) -> list[dict]:
    """Per MAC layer of a mock or hardware model: the weight matrix (inputs x outputs) it puts
    on the chip, the MAC rows (input vectors) per sample, the multiply-accumulates per sample
    and the synapse-array tiles it takes (128 inputs x 256 outputs per hemisphere)."""
    shapes: dict[Any, tuple[int, ...]] = {}

    def record(module, args, output) -> None:
        shapes.setdefault(module, tuple(args[0].shape))

    hooks = [m.register_forward_hook(record)
             for m in model.modules() if isinstance(m, perceptron.nn.MACLayer)]
    previous = [m.mock for m in model.modules() if isinstance(m, perceptron.nn.Layer)]
    for m in model.modules():
        if isinstance(m, perceptron.nn.Layer):
            m.mock = True  # the shapes do not depend on the mode
    try:
        with torch.random.fork_rng(devices=[]):  # the mock noise must not shift the stream
            predict(model, torch.zeros((1,) + tuple(input_shape)))
    finally:
        for h in hooks:
            h.remove()
        layers = [m for m in model.modules() if isinstance(m, perceptron.nn.Layer)]
        for m, mock in zip(layers, previous):
            m.mock = mock
    height = perceptron.constants.hardware_matrix_height
    width = perceptron.constants.hardware_matrix_width
    table = []
    for name, layer in model.named_modules():
        if layer not in shapes:
            continue
        k, n, rows = _matrix(layer, tuple(shapes[layer][1:]))
        table.append({"layer": name, "type": type(layer).__name__, "matrix": [k, n],
                      "rows_per_sample": rows, "macs_per_sample": rows * k * n,
                      "num_sends": layer.num_sends,
                      "tiles": math.ceil(k / height) * math.ceil(n / width)})
    return table


# -- the job ---------------------------------------------------------------------------------


def _connect(options: Options, out: Path) -> tuple[int | str, str | None]:
    """Calibration (unless uncalibrated) and the global connection, as in the tutorial."""
    chip_id = core.resolve_chip_id(options.chip_id)
    if options.uncalibrated:
        core.init_hardware_minimal(chip_id=chip_id, seed=options.seed)
        return chip_id, None
    path = save_nightly_calibration("hagen_cocolist.pbin", folder=out, chip_id=chip_id)
    core.init_hardware(core.CalibrationPath(path), chip_id=chip_id, seed=options.seed)
    return chip_id, str(path)


def job_recipe(job: Job, options: Options) -> Recipe:
    """The options' recipe of `job` (ValueError naming the choices for an unknown one)."""
    name = options.recipe or job.default_recipe
    if name not in job.recipes:
        raise ValueError(f"unknown recipe {name!r} for job {job.name!r}; choose from "
                         f"{sorted(job.recipes)}")
    return job.recipes[name]


def phases(job: Job, options: Options, n_train: int | None) -> tuple[Recipe, Phase, Phase]:
    """The recipe and its mock and hardware phases with the options' epoch overrides, in
    steps."""
    recipe = job_recipe(job, options)
    mock_phase, hw_phase = recipe.mock, recipe.hardware
    if options.mock_epochs is not None:
        mock_phase = replace(mock_phase, epochs=options.mock_epochs)
    if options.hardware_epochs is not None:
        hw_phase = replace(hw_phase, epochs=options.hardware_epochs)
    return recipe, mock_phase.resolve(n_train), hw_phase.resolve(n_train)


def _phase_json(phase: Phase) -> dict:
    return {**asdict(phase), "steps": phase.steps}


def run(job: Job, options: Options) -> dict:
    """The whole job; returns the summary that is also written to `output/summary.json`."""
    start = time.perf_counter()
    job_recipe(job, options)  # an unknown recipe fails before any work
    out = Path(options.output or f"{job.name}-out")
    out.mkdir(parents=True, exist_ok=True)
    previous_parameter = perceptron.get_mock_parameter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _run(job, options, out, start)
    finally:
        torch.set_num_threads(previous_threads)
        perceptron.set_mock_parameter(previous_parameter)


def _run(job: Job, options: Options, out: Path, start: float) -> dict:
    torch.manual_seed(options.seed)
    times: dict[str, float] = {}
    result: dict[str, Any] = {"histories": {}, "accuracies": {}, "extras": {}}
    histories, accuracies, extras = result["histories"], result["accuracies"], result["extras"]
    chip_time = None
    try:
        t = time.perf_counter()
        data = job.data(options)
        recipe, mock_phase, hw_phase = phases(job, options, data.n_train)
        times["data_s"] = time.perf_counter() - t
        t = time.perf_counter()
        chip_id, calibration_path = _connect(options, out)
        # measures the hardware gain and the average statistical noise on the outputs
        parameter = perceptron.measure_mock_parameter()
        perceptron.set_mock_parameter(parameter)
        times["setup_s"] = time.perf_counter() - t
        state = "uncalibrated" if options.uncalibrated else "calibrated"
        print(f"{job.name}: chip {chip_id} ({state}), recipe {recipe.name}, seed {options.seed}")
        print(f"gain factor: {parameter.gain:.5f}")
        print(f"noise std.:  {parameter.noise_std:.5f}")
        test = data.test

        t = time.perf_counter()
        model_mock = job.model("mock")
        source = data.train()
        histories["mock"] = train_phase(model_mock, mock_phase, source, "mock",
                                        data.validation, options.progress, job.probe)
        times["mock_phase_s"] = time.perf_counter() - t
        accuracies["mock"] = accuracy(model_mock, *test)
        print(f"test accuracy after the mock phase:      {accuracies['mock']:.2%}")

        predictions = {}
        if not options.mock_only:
            model_hw = job.model("mock" if options.hardware_phase_mock else "hardware")
            # initialize with state of mock model
            model_hw.load_state_dict(model_mock.state_dict())
            accuracies["transfer"] = accuracy(model_hw, *test)
            label = "mock model in mock mode (control)" if options.hardware_phase_mock \
                else "mock model on the chip, unchanged"
            print(f"test accuracy, {label}: {accuracies['transfer']:.2%}")
            job.after_transfer(model_mock, model_hw, extras)

            t = time.perf_counter()
            histories["hardware"] = train_phase(
                model_hw, hw_phase, source,
                "mock hw" if options.hardware_phase_mock else "hardware", data.validation,
                options.progress, job.probe)
            times["hardware_phase_s"] = time.perf_counter() - t
            with chip_time_meter() as chip_total:
                predictions["hardware"] = predict(model_hw, test[0])
            if not options.hardware_phase_mock:
                chip_time = chip_total[0] / len(test[0])
            accuracies["hardware"] = (predictions["hardware"] == test[1]).float().mean().item()
            print(f"test accuracy after the hardware phase:  {accuracies['hardware']:.2%}")
            job.after_hardware(model_hw, extras)
        predictions["mock"] = predict(model_mock, test[0])
        mapping = chip_mapping(model_mock, job.input_shape)
    finally:
        core.release_hardware()

    float_phase = None
    if options.float_baseline:
        t = time.perf_counter()
        torch.manual_seed(options.seed)
        float_phase = replace(mock_phase, lr=recipe.float_lr)  # the same schedule
        model_float = job.model("float")
        histories["float"] = train_phase(model_float, float_phase, data.train(),
                                         "float", data.validation, options.progress,
                                         job.probe)
        accuracies["float"] = accuracy(model_float, *test)
        times["float_phase_s"] = time.perf_counter() - t
        print(f"test accuracy of the float model:        {accuracies['float']:.2%}")

    classes = len(job.class_names)
    labels = test[1].numpy()
    chip = "hardware" if "hardware" in predictions else "mock"
    confusion = confusion_matrix(labels, predictions[chip].numpy(), classes)
    result.update(test=test, predictions={k: v.numpy() for k, v in predictions.items()},
                  confusion=confusion, confusion_of=chip, options=options)
    files = []
    if options.figures:
        t = time.perf_counter()
        files = job.figures(out, result)
        times["figures_s"] = time.perf_counter() - t
    summary = {
        "job": job.name,
        "recipe": recipe.name,
        "chip_id": chip_id,
        "calibrated": not options.uncalibrated,
        "calibration": calibration_path,
        "seed": options.seed,
        "mock_only": options.mock_only,
        "hardware_phase_mock": options.hardware_phase_mock,
        "gain": parameter.gain,
        "noise_std": parameter.noise_std,
        "accuracy_float": accuracies.get("float"),
        "accuracy_mock": accuracies["mock"],
        "accuracy_transfer": accuracies.get("transfer"),
        "accuracy_hardware": accuracies.get("hardware"),
        "chip_time_per_sample_s": chip_time,
        "split": data.split,
        "chip_mapping": mapping,
        "macs_per_sample": sum(layer["macs_per_sample"] for layer in mapping),
        "float_phase": None if float_phase is None else _phase_json(float_phase),
        "mock_phase": _phase_json(mock_phase),
        "hardware_phase": None if options.mock_only else _phase_json(hw_phase),
        "validation_float": histories["float"].validation if "float" in histories else None,
        "validation_mock": histories["mock"].validation,
        "validation_hardware": histories["hardware"].validation
        if "hardware" in histories else None,
        "confusion_matrix": confusion.tolist(),
        "confusion_of": chip,
        "times": {k: round(v, 3) for k, v in times.items()},
        "files": [f.name for f in files],
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    save_or_keep(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode(),
                 "summary")
    print(f"wrote {out / 'summary.json'}" + (f" and {len(files)} figures" if files else "")
          + f" ({summary['wall_time_s']:.1f} s)")
    return summary
