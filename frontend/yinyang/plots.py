"""The figures of the Yin-Yang job (matplotlib, Agg backend), in the tutorial's style: the data
set as a scatter plot and the decision maps (one transparent-to-colour map per class on grey),
plus the training curves and the confusion matrix of every job (`frontend.train.plots`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..datasets import CLASS_NAMES, YinYangDataset  # noqa: E402
from ..train.plots import confusion_figure, confusion_title, save, training_figure  # noqa: E402

COLORS = ("black", "white", "orange")
BACKGROUND = "gray"


def alpha_cmap(color):
    """A colormap ranging from transparent to `color` (the tutorial's)."""
    cmap = np.broadcast_to(mpl.colors.to_rgba(color), (256, 4)).copy()
    cmap[:, -1] = np.linspace(0, 1, 256)
    return mpl.colors.ListedColormap(cmap)


def _frame(ax) -> None:
    ax.set_aspect("equal")
    ax.set_facecolor(BACKGROUND)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    ax.grid(False)


def plot_dataset(ax, inputs: np.ndarray, labels: np.ndarray) -> None:
    for i in range(3):
        ax.scatter(*inputs[labels == i][:, :2].T, c=COLORS[i], label=CLASS_NAMES[i], s=6,
                   edgecolors="none")
    _frame(ax)
    ax.legend(loc="upper right", fontsize="small", facecolor="lightgray")


def plot_decision_map(ax, probabilities: np.ndarray, title: str,
                      errors: np.ndarray | None = None) -> None:
    """`probabilities` [y, x, class]; `errors`: (n, 2) misclassified test points (red x)."""
    for i, c in enumerate(COLORS):
        ax.imshow(probabilities[..., i], vmin=0, vmax=1, extent=(0, 1, 0, 1), origin="lower",
                  cmap=alpha_cmap(c), interpolation="nearest")
    ax.add_patch(mpl.patches.Circle((0.5, 0.5), 0.5, fill=False, lw=0.6, ec="lightgray",
                                    ls="--"))
    if errors is not None and len(errors):
        ax.scatter(errors[:, 0], errors[:, 1], marker="x", c="red", s=10, lw=0.8,
                   label=f"test errors ({len(errors)})")
        ax.legend(loc="upper right", fontsize="x-small", facecolor="lightgray")
    _frame(ax)
    ax.set_title(title, fontsize="medium")


def write_all(out: Path, *, data_seed: int, result: dict) -> list[Path]:
    """Write every figure into `out` (the decision maps, the training curves and the confusion
    matrix; `result` as from `frontend.train.engine.run`); returns their paths."""
    files: list[Path] = []
    accuracies, maps = result["accuracies"], result["extras"]["maps"]
    predictions = result["predictions"]
    hardware_phase_mock = result["options"].hardware_phase_mock
    inputs, labels = YinYangDataset(seed=data_seed).draw(2000)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    plot_dataset(ax, inputs.numpy(), labels.numpy())
    ax.set_title("Yin-Yang data set (2000 samples)", fontsize="medium")
    save(fig, out / "dataset.png", files)

    test_inputs, test_labels = (t.numpy() for t in result["test"])
    hw = "mock" if hardware_phase_mock else "chip"
    titles = {"mock": f"after the mock phase (mock): {accuracies['mock']:.1%}",
              "transfer": f"mock model on the {hw}: {accuracies['transfer']:.1%}",
              "hardware": f"after the hardware phase ({hw}): {accuracies['hardware']:.1%}"}
    errors = {"mock": predictions["mock"] != test_labels,
              "hardware": predictions["hardware"] != test_labels}
    for name in ("mock", "transfer", "hardware"):
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        err = errors.get(name)
        plot_decision_map(ax, maps[name], titles[name],
                          None if err is None else test_inputs[err, :2])
        save(fig, out / f"decision_{name}.png", files)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    for ax, name in zip(axes, ("mock", "transfer", "hardware")):
        plot_decision_map(ax, maps[name], titles[name])
    fig.suptitle("decision maps (class probabilities; black yin, white yang, orange dot); "
                 "accuracy on the canonical test set", fontsize="medium")
    save(fig, out / "decision_maps.png", files)

    save(training_figure(result["histories"], hardware_phase_mock), out / "training.png", files)
    save(confusion_figure(result["confusion"], CLASS_NAMES, confusion_title(result)),
         out / "confusion.png", files)
    return files
