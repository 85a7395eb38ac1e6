"""Data sets of the BSS-2 tutorials: the Yin-Yang data set (Kriener et al., 2021).

`YinYangDataset` has the tutorial's distribution — points in the big circle (radius 0.5),
three balanced classes (yin, yang, dot; by rejection sampling), samples (x, y, 1-x, 1-y),
redrawn on each access, seeded — and a vectorised `draw(n)`. `canonical_split(name)` gives the
fixed evaluation sets stored as tensors: train 5000 (seed 42), validation 1000 (seed 41),
test 1000 (seed 40). Same distribution as the tutorial's class, not the same random stream.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import torch

CLASS_NAMES = ("yin", "yang", "dot")
SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}


def yin_yang_class(x: np.ndarray, y: np.ndarray, r_small: float = 0.1,
                   r_big: float = 0.5) -> np.ndarray:
    """Class (0 yin, 1 yang, 2 dot) of points inside the big circle (vectorised)."""
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    is_yin = ((d_right <= r_small) | ((d_left > r_small) & (d_left <= 0.5 * r_big))
              | ((y > r_big) & (d_right > 0.5 * r_big)))
    is_dot = (d_right < r_small) | (d_left < r_small)
    return np.where(is_dot, 2, is_yin.astype(np.int64))


class YinYangDataset(torch.utils.data.Dataset):
    """The Yin-Yang data set; every access draws a fresh sample (like the tutorial's class).

    `transform`, like that of hxtorch's spiking data sets, is applied to each sample's input
    (not the label) in `__getitem__`, e.g. to encode it as spike times; `draw` returns the
    untransformed batch.
    """

    def __init__(self, r_small: float = 0.1, r_big: float = 0.5, size: int = 1000,
                 seed: int | None = 42,
                 transform: Callable[[torch.Tensor], object] | None = None) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {transform!r}")
        if not 0 < r_small < r_big:
            raise ValueError(f"need 0 < r_small < r_big, got r_small={r_small}, r_big={r_big}")
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self.r_small = r_small
        self.r_big = r_big
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.transform = transform

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n fresh samples: inputs (n, 4) float32 and balanced labels (n,) int64."""
        goal = self.rng.integers(0, 3, n)
        xy = np.empty((n, 2))
        todo = np.arange(n)
        while todo.size:
            # per round about 1/3 of the candidates match their goal class: draw enough
            cand = self.rng.random((max(3 * todo.size + 64, 256), 2)) * 2 * self.r_big
            inside = np.hypot(cand[:, 0] - self.r_big, cand[:, 1] - self.r_big) <= self.r_big
            cand = cand[inside]
            cls = yin_yang_class(cand[:, 0], cand[:, 1], self.r_small, self.r_big)
            left = []
            for c in range(3):
                want = todo[goal[todo] == c]
                have = cand[cls == c][:want.size]
                xy[want[:have.shape[0]]] = have
                left.append(want[have.shape[0]:])
            todo = np.concatenate(left)
        x, y = xy[:, 0], xy[:, 1]
        inputs = np.stack([x, y, 1 - x, 1 - y], axis=1)
        return torch.tensor(inputs, dtype=torch.float32), torch.tensor(goal, dtype=torch.int64)

    def __getitem__(self, index: int) -> tuple[object, int]:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} is out of range for a data set of {self.size}")
        inputs, label = self.draw(1)
        sample = inputs[0] if self.transform is None else self.transform(inputs[0])
        return sample, int(label[0])

    def __len__(self) -> int:
        return self.size


@cache
def _split(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    size, seed = SPLITS[name]
    return YinYangDataset(size=size, seed=seed).draw(size)


def canonical_split(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed evaluation set `name` ("train", "validation", "test"): (inputs, labels)."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; choose from {sorted(SPLITS)}")
    inputs, labels = _split(name)
    return inputs.clone(), labels.clone()
