"""The two training recipes of the Yin-Yang job: `seed` (the tutorial) and `best`.

A recipe fixes, per phase (mock, then hardware in the loop), the number of epochs (one epoch =
one optimizer step on a batch of fresh samples, as in the tutorial), the batch size, Adam's
learning rate and its schedule. The model is always the tutorial's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    """One training phase.

    epochs: scheduler epochs; the loop runs `epochs + 1` steps if `extra_step` (the tutorial's
    `train()` runs `range(num_epochs + 1)`), else `epochs` steps.
    batch_size: fresh Yin-Yang samples per step.
    lr, schedule, gamma: Adam's learning rate; "step" multiplies it by `gamma` after every step
    (`StepLR(step_size=1)`), "cosine" anneals it to `lr * final_lr_fraction`.
    prepend_grid: prepend the tutorial's 16 x 16 grid of test points to every batch (it is
    only looked at, not trained on).
    select_every: if > 0, the accuracy on the canonical validation split is measured every
    `select_every` steps and at the end, and the phase ends with the best state seen.
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

    @property
    def steps(self) -> int:
        return self.epochs + 1 if self.extra_step else self.epochs


@dataclass(frozen=True)
class Recipe:
    name: str
    mock: Phase
    hardware: Phase


SEED = Recipe(
    name="seed",
    mock=Phase(epochs=200, batch_size=350, lr=1.0, gamma=0.99, extra_step=True,
               prepend_grid=True),
    hardware=Phase(epochs=15, batch_size=350, lr=0.2, gamma=0.9, extra_step=True,
                   prepend_grid=True),
)

BEST = Recipe(
    name="best",
    mock=Phase(epochs=5000, batch_size=1000, lr=1.0, schedule="cosine",
               final_lr_fraction=0.01),
    hardware=Phase(epochs=100, batch_size=1000, lr=0.2, schedule="cosine",
                   final_lr_fraction=0.05, select_every=10),
)

RECIPES = {r.name: r for r in (SEED, BEST)}
