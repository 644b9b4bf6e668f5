"""Figures of the report: epoch-by-image mask tables, curves, confusion matrices."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .colors import CLASS_NAMES, PALETTE, labels_to_rgb, rgb_to_labels
from .data import IMAGE_SUFFIX, MASK_SUFFIX, VALIDATION, read_image, read_mask_rgb
from .errors import DataError
from .runs import Run

MODEL_LABELS = {"fcn32s": "FCN32s", "fcn16s": "FCN16s", "fcn8s": "FCN8s"}


def show(fig: Figure) -> None:
    """Display ``fig`` in a notebook, its label (what it shows, in words) as the image's alt text, and close it."""
    from IPython.display import display

    display(fig, metadata={"image/png": {"alt": fig.get_label()}})
    plt.close(fig)


def _names(models: list[str]) -> str:
    labels = [MODEL_LABELS.get(m, m) for m in models]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def legend_handles() -> list[Patch]:
    return [Patch(facecolor=PALETTE[c] / 255, edgecolor="0.5", label=name) for c, name in enumerate(CLASS_NAMES)]


def course_colours(path: Path) -> np.ndarray:
    """A mask file as the scorer reads it, redrawn in the exact palette."""
    return labels_to_rgb(rgb_to_labels(read_mask_rgb(path)))


def mask_table(run: Run, data_dir: str | Path, epochs: list[int] | None = None, sample_ids: list[str] | None = None) -> Figure:
    """Rows: sample images; columns: satellite image, ground truth, prediction at each snapshot epoch."""
    epochs = epochs or run.config["snapshot_epochs"]
    sample_ids = sample_ids or run.config["sample_ids"]
    folder = Path(data_dir) / VALIDATION
    cols = 2 + len(epochs)
    fig, axes = plt.subplots(len(sample_ids), cols, figsize=(2.3 * cols, 2.3 * len(sample_ids) + 0.8), squeeze=False)
    for row, sample_id in enumerate(sample_ids):
        panels = [read_image(folder / f"{sample_id}{IMAGE_SUFFIX}"), course_colours(folder / f"{sample_id}{MASK_SUFFIX}")]
        for epoch in epochs:
            path = run.snapshot(epoch, sample_id)
            if not path.is_file():
                raise DataError(f"{path}: snapshot missing (epoch {epoch} is not among the run's snapshot_epochs?)")
            panels.append(course_colours(path))
        titles = ["satellite", "ground truth"] + [f"epoch {e}" for e in epochs]
        for col, (panel, title) in enumerate(zip(panels, titles)):
            ax = axes[row, col]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{sample_id}{IMAGE_SUFFIX}", fontsize=9)
    fig.legend(handles=legend_handles(), loc="lower center", ncol=len(CLASS_NAMES), fontsize=8, frameon=False)
    fig.suptitle(f"{MODEL_LABELS.get(run.model, run.model)} on validation", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.set_label(f"{_names([run.model])} predicted masks of validation images {', '.join(sample_ids)} at epochs "
                  f"{', '.join(map(str, epochs))}, beside the satellite image and the ground truth, in the course colours")
    return fig


def metric_curves(runs: dict[str, Run], key: str = "miou", ylabel: str = "validation mIoU") -> Figure:
    """One metric over the epochs, one line per model."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, run in runs.items():
        ax.plot(run.column("epoch"), run.column(key), marker="o", markersize=3, label=MODEL_LABELS.get(name, name))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.set_label(f"{ylabel[:1].upper()}{ylabel[1:]} per epoch of {_names(list(runs))}")
    return fig


def training_curves(run: Run) -> Figure:
    """Training loss and validation mIoU of one run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.3))
    epochs = run.column("epoch")
    left.plot(epochs, run.column("train_loss"), marker="o", markersize=3)
    left.set(xlabel="epoch", ylabel="training loss")
    right.plot(epochs, run.column("miou"), marker="o", markersize=3, color="tab:green")
    right.set(xlabel="epoch", ylabel="validation mIoU")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(MODEL_LABELS.get(run.model, run.model))
    fig.tight_layout()
    fig.set_label(f"Training loss and validation mIoU per epoch of {_names([run.model])}")
    return fig


def confusion_matrices(runs: dict[str, Run]) -> Figure:
    """Row-normalised final confusion matrices (true class -> predicted class), one panel per model."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 4), squeeze=False)
    short = [n[:5] for n in CLASS_NAMES]
    for ax, (name, run) in zip(axes[0], runs.items()):
        mat = np.array(run.summary["confusion"], dtype=float)
        rows = mat.sum(1, keepdims=True)
        norm = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(norm):
            if v >= 0.01:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, color="white" if v > 0.6 else "black")
        ax.set_xticks(range(len(short)), short, rotation=60, fontsize=7)
        ax.set_yticks(range(len(short)), short, fontsize=7)
        ax.set(title=MODEL_LABELS.get(name, name), xlabel="predicted", ylabel="true")
    fig.tight_layout()
    fig.set_label(f"Row-normalised confusion matrices (true class against predicted class) of {_names(list(runs))} "
                  "on the validation set, final models")
    return fig
