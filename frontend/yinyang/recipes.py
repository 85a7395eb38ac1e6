"""The two training recipes of the Yin-Yang job: `seed` (the tutorial) and `best`.

A recipe (`frontend.train.recipes`) fixes, per phase (mock, then hardware in the loop), the
number of epochs (one epoch = one optimizer step on a batch of fresh samples, as in the
tutorial), the batch size, Adam's learning rate and its schedule. The model is always the
tutorial's.
"""

from __future__ import annotations

from ..train.recipes import Phase, Recipe

SEED = Recipe(
    name="seed",
    mock=Phase(epochs=200, batch_size=350, lr=1.0, gamma=0.99, extra_step=True,
               prepend_grid=True),
    hardware=Phase(epochs=15, batch_size=350, lr=0.2, gamma=0.9, extra_step=True,
                   prepend_grid=True),
    float_lr=0.01,
)

BEST = Recipe(
    name="best",
    mock=Phase(epochs=5000, batch_size=1000, lr=1.0, schedule="cosine",
               final_lr_fraction=0.01),
    hardware=Phase(epochs=100, batch_size=1000, lr=0.2, schedule="cosine",
                   final_lr_fraction=0.05, select_every=10),
    float_lr=0.01,
)

RECIPES = {r.name: r for r in (SEED, BEST)}
