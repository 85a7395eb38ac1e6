"""The jobs of `hxemu train`: their data, networks and recipes (docs/train.md).

Each network is written once against a layer set (`layers_for(mode)`): hxtorch's
`perceptron.nn` layers in mock or hardware mode, or their plain torch counterparts for the
float baseline (`ConvertingReLU` becomes `ReLU`, `ExpandedConv1d` a `Conv1d`; `avg`,
`num_sends` and the shift have no float meaning). Inputs are 0..1 and multiplied by 31, the
chip's input range, as in the Yin-Yang tutorial.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from .. import perceptron
from . import data as datasets
from .engine import Data, Job, Options, Shuffled
from .recipes import Phase, Recipe

TRAIN_DATA_SEED_OFFSET = 1000  # batches are drawn with seed 1000 + --seed


def _float_layers() -> SimpleNamespace:
    def linear(in_features, out_features, bias=True, **_):
        return torch.nn.Linear(in_features, out_features, bias)

    def conv(cls):
        def make(in_channels, out_channels, kernel_size, stride=1, padding=0, **_):
            return cls(in_channels, out_channels, kernel_size, stride, padding)
        return make

    return SimpleNamespace(Linear=linear, Conv1d=conv(torch.nn.Conv1d),
                           ExpandedConv1d=conv(torch.nn.Conv1d),
                           Conv2d=conv(torch.nn.Conv2d),
                           ConvertingReLU=lambda shift=2, **_: torch.nn.ReLU())


class _BelowLimit(torch.autograd.Function):
    """Identity whose gradient is zero where the input is >= `limit`."""

    @staticmethod
    def forward(ctx, input: torch.Tensor, limit: float) -> torch.Tensor:
        ctx.save_for_backward(input < limit)
        return input.view_as(input)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (below,) = ctx.saved_tensors
        return grad_output * below, None


class SaturatingReLU(perceptron.nn.ConvertingReLU):
    """The chip's `ConvertingReLU` (the same forward, on the chip or in the mock) whose
    gradient is also zero where the output saturates at 31, not only below 0.

    The op's straight-through gradient ignores that clamp, so the training keeps pushing
    saturated units up. MNIST-1D's three stacked convolutions, mock phase, 1000 steps of 100
    at lr 1: 63.7 % with the op's gradient, 90.0 % with this one (docs/train-mnist1d.md).
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.requires_grad:
            limit = (perceptron.constants.input_activation_max + 1) * 2.0 ** self.shift
            input = _BelowLimit.apply(input, limit)
        return super().forward(input)


def layers_for(mode: str) -> SimpleNamespace:
    """The layer constructors of `mode` ("float", "mock", "hardware"); `SaturatingReLU` is
    a `ConvertingReLU` (float: `ReLU`) with the saturation-aware gradient."""
    if mode == "float":
        layers = _float_layers()
        layers.SaturatingReLU = layers.ConvertingReLU
        return layers
    nn, mock = perceptron.nn, mode == "mock"

    def bind(cls):
        return lambda *args, **kwargs: cls(*args, mock=mock, **kwargs)

    return SimpleNamespace(SaturatingReLU=bind(SaturatingReLU), **{
        name: bind(getattr(nn, name)) for name in (
            "Linear", "Conv1d", "ExpandedConv1d", "Conv2d", "ConvertingReLU")})


LOGIT_SCALE = 10.0  # output LSB per logit unit of the loss (see Network)


def split_recipes(*, mock: tuple[int, int, int], hardware: tuple[int, int, int],
                  quick: tuple[int, int], float_lr: float, mock_lr: float = 0.3,
                  hardware_over_data: bool = True) -> dict[str, Recipe]:
    """`best` and `quick` of a data-set job: `mock` and `hardware` are (epochs, batch size,
    select_every), epochs in passes over the training set (the hardware phase's in steps if
    not `hardware_over_data`); `quick` has the (mock, hardware) epochs. Adam with cosine
    decay: lr `mock_lr` to 1 % in the mock phase, 0.05 to 10 % in the hardware phase, whose model
    selection includes the transferred state."""

    def recipe(name: str, mock_epochs: int, hardware_epochs: int) -> Recipe:
        return Recipe(name, float_lr=float_lr,
                      mock=Phase(epochs=mock_epochs, batch_size=mock[1], lr=mock_lr,
                                 schedule="cosine", final_lr_fraction=0.01,
                                 select_every=min(mock[2], mock_epochs), over_data=True),
                      hardware=Phase(epochs=hardware_epochs, batch_size=hardware[1], lr=0.05,
                                     schedule="cosine", final_lr_fraction=0.1,
                                     select_every=min(hardware[2], hardware_epochs),
                                     select_initial=True, over_data=hardware_over_data))

    return {"best": recipe("best", mock[0], hardware[0]),
            "quick": recipe("quick", *quick)}


class Network(torch.nn.Module):
    """A job's network: inputs 0..1 scaled to the chip's input range, then `layers`; the
    outputs (int8 LSB on the chip, up to +-127) are divided by `LOGIT_SCALE` on the host.

    Cross-entropy on raw LSB logits is saturated (a margin of 20 LSB is already a probability
    of 1 - 2e-9) and trains the chip models badly: digits, mock phase, 20 epochs: 95.0 %
    without the division, 98.1 % with it. The argmax, and so the accuracy, is unchanged.
    """

    def __init__(self, *layers: torch.nn.Module) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x * 31.0) / LOGIT_SCALE


class SplitJob(Job):
    """A job on a fixed data set (`load` returns a `data.Split`)."""

    def load(self, options: Options) -> datasets.Split:
        raise NotImplementedError

    def data(self, options: Options) -> Data:
        split = self.load(options)
        train = split.train
        return Data(train=lambda: Shuffled(*train, TRAIN_DATA_SEED_OFFSET + options.seed),
                    validation=split.validation, test=split.test,
                    split={**split.description, "sizes": split.sizes()},
                    n_train=len(train[1]))


DIGITS = tuple(str(i) for i in range(10))


class DigitsJob(SplitJob):
    """Handwritten digits (8 x 8): the network class of the BSS-2 MNIST result, one Conv2d
    and two Linear layers with ConvertingReLU."""

    name = "digits"
    description = "scikit-learn's handwritten digits (8 x 8): Conv2d + 2 Linear"
    class_names = DIGITS
    sample_kind = "image"
    input_shape = (1, 8, 8)
    recipes = split_recipes(mock=(20, 32, 2), hardware=(3, 64, 1), quick=(5, 1),
                            float_lr=3e-3)

    def load(self, options: Options) -> datasets.Split:
        return datasets.load_digits()

    def layers(self, mode: str) -> torch.nn.Module:
        L = layers_for(mode)
        return Network(
            L.Conv2d(1, 32, kernel_size=3, stride=2, padding=1),  # 32 x 4 x 4
            L.ConvertingReLU(shift=1),
            torch.nn.Flatten(),
            L.Linear(512, 128),
            L.ConvertingReLU(shift=1),
            L.Linear(128, 10, avg=8))


class Mnist1dJob(SplitJob):
    """MNIST-1D: the paper's small CNN (three strided convolutions and a linear read-out) as
    ExpandedConv1d layers (each kernel unrolled over the synapse array's 256 columns), with
    the saturation-aware gradient of `SaturatingReLU`."""

    name = "mnist1d"
    description = "MNIST-1D (sequences of 40): 3 ExpandedConv1d + Linear"
    class_names = DIGITS
    sample_kind = "sequence"
    input_shape = (2, 40)
    recipes = split_recipes(mock=(28, 100, 4), hardware=(2, 200, 1), quick=(4, 1),
                            float_lr=0.02, mock_lr=1.0)

    def load(self, options: Options) -> datasets.Split:
        return datasets.load_mnist1d()

    def layers(self, mode: str) -> torch.nn.Module:
        L = layers_for(mode)
        return Network(
            L.ExpandedConv1d(2, 32, kernel_size=5, stride=2, padding=1),  # 32 x 19
            L.SaturatingReLU(shift=1),
            L.ExpandedConv1d(32, 32, kernel_size=5, stride=2, padding=1),  # 32 x 9
            L.SaturatingReLU(shift=1),
            L.ExpandedConv1d(32, 32, kernel_size=5, stride=2, padding=1),  # 32 x 4
            L.SaturatingReLU(shift=1),
            torch.nn.Flatten(),
            L.Linear(128, 10, avg=8))


class MnistJob(SplitJob):
    """MNIST (28 x 28) from the user's files: the BSS-2 MNIST network class."""

    name = "mnist"
    description = "MNIST from local files (--data-path): Conv2d + 2 Linear"
    class_names = DIGITS
    sample_kind = "image"
    input_shape = (1, 28, 28)
    # a pass over MNIST is long for the chip in the loop: its hardware phase counts steps
    recipes = split_recipes(mock=(5, 128, 1), hardware=(400, 128, 100), quick=(1, 50),
                            float_lr=3e-3, hardware_over_data=False)

    def load(self, options: Options) -> datasets.Split:
        return datasets.load_mnist(options.data_path)

    def layers(self, mode: str) -> torch.nn.Module:
        L = layers_for(mode)
        return Network(
            L.Conv2d(1, 20, kernel_size=8, stride=5),  # 20 x 5 x 5
            L.ConvertingReLU(shift=1),
            torch.nn.Flatten(),
            L.Linear(500, 128),
            L.ConvertingReLU(shift=1),
            L.Linear(128, 10, avg=8))


JOBS: dict[str, type[Job]] = {}


def register(job: type[Job]) -> type[Job]:
    JOBS[job.name] = job
    return job


for _job in (DigitsJob, Mnist1dJob, MnistJob):
    register(_job)


def get(name: str) -> Job:
    """The job `name` (yinyang, digits, mnist1d, mnist)."""
    if name == "yinyang" and name not in JOBS:
        from ..yinyang.run import YinYangJob  # noqa: F401  (registers itself)
    if name not in JOBS:
        raise ValueError(f"unknown job {name!r}; choose from {sorted(JOB_NAMES)}")
    return JOBS[name]()


JOB_NAMES = ("yinyang", "digits", "mnist1d", "mnist")
