"""The figures every job writes (matplotlib, Agg backend): the training curves of all phases,
the confusion matrix on the chip, and misclassified test samples."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100
PHASE_COLORS = {"float": "tab:green", "mock": "tab:blue", "hardware": "tab:red"}
MISCLASSIFIED = 12  # samples shown


def _phase_label(name: str, hardware_phase_mock: bool) -> str:
    if name == "hardware":
        return "'hardware' phase (in mock mode)" if hardware_phase_mock else "hardware phase"
    return f"{name} {'baseline' if name == 'float' else 'phase'}"


def plot_history(axes, histories: dict, hardware_phase_mock: bool) -> None:
    """One row per phase (in `axes`' order: mock, hardware, float, those present): loss
    (left) and batch accuracy (right) per step, the validation accuracy as dots."""
    names = [n for n in ("mock", "hardware", "float") if n in histories]
    for row, name in zip(axes, names):
        hist, label = histories[name], _phase_label(name, hardware_phase_mock)
        for ax, key in zip(row, ("loss", "accuracy")):
            values = np.asarray(getattr(hist, key), dtype=float)
            ax.plot(np.arange(1, len(values) + 1), values, color=PHASE_COLORS[name], lw=0.8,
                    alpha=0.8, label="training batch")
            if key == "accuracy" and hist.validation:
                v = np.asarray(hist.validation, dtype=float)
                ax.plot(v[:, 0], v[:, 1], "o-", color="black", ms=3, lw=1, mfc="white",
                        label="validation set")
            ax.set_title(f"{label}: {key}", fontsize="medium")
            ax.set_xlabel("step (one batch)")
            ax.set_ylabel(key)
            ax.grid(True, alpha=0.3)
            if len(values) == 0:
                ax.text(0.5, 0.5, "no steps", ha="center", va="center",
                        transform=ax.transAxes)
        if len(hist.loss) and min(hist.loss) > 0:
            row[0].set_yscale("log")
        row[1].set_ylim(0.3, 1.0)
        row[1].legend(loc="lower right", fontsize="x-small")


def training_figure(histories: dict, hardware_phase_mock: bool):
    rows = len(histories)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 3.75 * rows), layout="constrained",
                             squeeze=False)
    plot_history(axes, histories, hardware_phase_mock)
    return fig


def confusion_figure(matrix: np.ndarray, class_names, title: str):
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * n, 1.0 + 0.5 * n), layout="constrained")
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", fontsize="x-small",
                color="white" if v > matrix.max() / 2 else "black")
    ax.set_xticks(range(n), class_names)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize="medium")
    return fig


def misclassified_figure(inputs: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                         kind: str, class_names, title: str):
    wrong = np.flatnonzero(predictions != labels)[:MISCLASSIFIED]
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        sample = inputs[i]
        if kind == "image":
            ax.imshow(sample.reshape(sample.shape[-2:]), cmap="gray_r", vmin=0, vmax=1)
        elif kind == "sequence":
            ax.axis("on")
            ax.plot(sample.reshape(-1), color="black", lw=1)
            ax.set_ylim(0, 1)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.text(0.5, 0.5, np.array2string(sample, precision=2), ha="center",
                    fontsize="x-small")
        ax.set_title(f"{class_names[labels[i]]} as {class_names[predictions[i]]}",
                     fontsize="small", color="tab:red")
    if not len(wrong):
        axes.flat[0].text(0.5, 0.5, "no misclassified samples", ha="center")
    fig.suptitle(title, fontsize="medium")
    return fig


def save(fig, path: Path, files: list[Path]) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    files.append(path)


def confusion_title(result: dict) -> str:
    where = result["confusion_of"]
    if where == "hardware" and result["options"].hardware_phase_mock:
        where = "hardware phase in mock mode"
    return (f"test set, {'on the chip' if where == 'hardware' else where}: "
            f"{result['accuracies'][result['confusion_of']]:.1%}")


def write_all(out: Path, job, result: dict) -> list[Path]:
    """training.png, confusion.png and misclassified.png of a job's `result` (see
    `engine.run`)."""
    files: list[Path] = []
    hw_mock = result["options"].hardware_phase_mock
    save(training_figure(result["histories"], hw_mock), out / "training.png", files)
    save(confusion_figure(result["confusion"], job.class_names, confusion_title(result)),
         out / "confusion.png", files)
    inputs, labels = (t.numpy() for t in result["test"])
    save(misclassified_figure(inputs, labels, result["predictions"][result["confusion_of"]],
                              job.sample_kind, job.class_names,
                              f"misclassified test samples ({result['confusion_of']}): "
                              "true as predicted"),
         out / "misclassified.png", files)
    return files
