"""Training recipes of the jobs: per phase (mock, then hardware in the loop) the number of
steps, the batch size, Adam's learning rate and its schedule, and the model selection.

A `Phase` counts in optimizer steps (`epochs` = steps, as in the Yin-Yang tutorial, where every
step draws fresh samples) unless `over_data` is set: then `epochs` and `select_every` count
passes over a fixed training set, and `Phase.resolve(n_train)` turns them into steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Phase:
    """One training phase.

    epochs: scheduler epochs; the loop runs `epochs + 1` steps if `extra_step` (the tutorial's
    `train()` runs `range(num_epochs + 1)`), else `epochs` steps.
    batch_size: samples per step.
    lr, schedule, gamma: Adam's learning rate; "step" multiplies it by `gamma` after every step
    (`StepLR(step_size=1)`), "cosine" anneals it to `lr * final_lr_fraction`.
    prepend_grid: prepend the job's grid of probe inputs to every batch (Yin-Yang tutorial:
    they are only looked at, not trained on).
    select_every: if > 0, the accuracy on the validation split is measured every
    `select_every` steps and at the end, and the phase ends with the best state seen.
    over_data: `epochs` and `select_every` count passes over the training set (see
    `resolve`).
    select_initial: with `select_every`, the state the phase starts from is a candidate too
    (validated before the first step), so the phase never ends worse on the validation split
    than it began (the hardware phase after the transfer).
    """

    epochs: int
    batch_size: int
    lr: float
    gamma: float = 1.0
    schedule: str = "step"
    final_lr_fraction: float = 0.0
    extra_step: bool = False
    prepend_grid: bool = False
    select_every: int = 0
    over_data: bool = False
    select_initial: bool = False

    @property
    def steps(self) -> int:
        if self.over_data:
            raise ValueError("a phase counted in passes over the data needs resolve(n_train)")
        return self.epochs + 1 if self.extra_step else self.epochs

    def resolve(self, n_train: int | None) -> Phase:
        """The same phase counted in steps: a pass over `n_train` samples is
        ceil(n_train / batch_size) steps."""
        if not self.over_data:
            return self
        if not n_train:
            raise ValueError("a phase counted in passes over the data needs a training set")
        per_pass = math.ceil(n_train / self.batch_size)
        return replace(self, epochs=self.epochs * per_pass,
                       select_every=self.select_every * per_pass, over_data=False)


@dataclass(frozen=True)
class Recipe:
    """A job's recipe: the mock and hardware phases; the float baseline trains the same
    architecture as a plain torch model with the mock phase's schedule at `float_lr` (its
    weights are not in the chip's -63..63 units, so the chip's learning rate does not fit)."""

    name: str
    mock: Phase
    hardware: Phase
    float_lr: float = 3e-3
