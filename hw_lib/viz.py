"""Figures of the report: epoch-by-image mask tables, curves, confusion matrices.

Figures are drawn at most ``WIDTH`` inches wide with text of 8 pt or more, so the PDF prints them at
their own size (nbconvert scales images down to 0.9 of the text width, 6 in on letter paper) and
the HTML shows them at 150 dpi.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .colors import CLASS_NAMES, PALETTE, SCORED_CLASSES, labels_to_rgb, rgb_to_labels
from .data import IMAGE_SUFFIX, MASK_SUFFIX, VALIDATION, read_image, read_mask_rgb
from .errors import DataError
from .models import DISPLAY_NAMES
from .runs import Run

WIDTH = 5.8  # inches: under the PDF's 6.1 in limit even where a tight bounding box adds a little
MASK_TABLE_WIDTH = 5.0  # inches: a mask table and its caption fit in half a page
DPI = 150
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8.5, "ytick.labelsize": 8.5,
         "legend.fontsize": 8.5, "figure.titlesize": 10, "figure.dpi": DPI}


def show(fig: Figure) -> None:
    """Display ``fig`` in a notebook, its label (what it shows, in words) as the image's alt text, and close it."""
    from IPython.display import display

    display(fig, metadata={"image/png": {"alt": fig.get_label()}})
    plt.close(fig)


def _figure(rows: int, cols: int, height: float, width: float = WIDTH, **kwargs) -> tuple[Figure, np.ndarray]:
    with plt.rc_context(STYLE):
        return plt.subplots(rows, cols, figsize=(width, height), squeeze=False, **kwargs)


def _names(models: list[str]) -> str:
    labels = [DISPLAY_NAMES.get(m, m) for m in models]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def legend_handles() -> list[Patch]:
    return [Patch(facecolor=PALETTE[c] / 255, edgecolor="0.5", label=name) for c, name in enumerate(CLASS_NAMES)]


def course_colours(path: Path) -> np.ndarray:
    """A mask file as the scorer reads it, redrawn in the exact palette."""
    return labels_to_rgb(rgb_to_labels(read_mask_rgb(path)))


def mask_table(run: Run, data_dir: str | Path) -> Figure:
    """Rows: sample images; columns: satellite image, ground truth, prediction at each snapshot epoch."""
    epochs, sample_ids = run.config["snapshot_epochs"], run.config["sample_ids"]
    folder = Path(data_dir) / VALIDATION
    cols = 2 + len(epochs)
    legend_height = 0.5  # inches: two rows of class names under the panels
    height = MASK_TABLE_WIDTH / cols * len(sample_ids) + 0.3 + legend_height
    fig, axes = _figure(len(sample_ids), cols, height, MASK_TABLE_WIDTH)
    titles = ["satellite", "ground\ntruth"] + [f"epoch {e}" for e in epochs]
    for row, sample_id in enumerate(sample_ids):
        panels = [read_image(folder / f"{sample_id}{IMAGE_SUFFIX}"),
                  course_colours(folder / f"{sample_id}{MASK_SUFFIX}")]
        for epoch in epochs:
            path = run.snapshot(epoch, sample_id)
            if not path.is_file():
                raise DataError(f"{path}: snapshot missing (epoch {epoch} is not among the run's snapshot_epochs?)")
            panels.append(course_colours(path))
        for col, (image, title) in enumerate(zip(panels, titles)):
            ax = axes[row, col]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title)
            if col == 0:
                ax.set_ylabel(sample_id)
    fig.legend(handles=legend_handles(), loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, legend_height / height, 1, 1), h_pad=0.3, w_pad=0.3)
    fig.set_label(f"{_names([run.model])} predicted masks of validation images {', '.join(sample_ids)} at epochs "
                  f"{', '.join(map(str, epochs))}, beside the satellite image and the ground truth, in the course "
                  "colours")
    return fig


def learning_curves(runs: dict[str, Run], train_px: int) -> Figure:
    """Training loss and validation mIoU (at the training size) per epoch, one line per model, side by side."""
    fig, axes = _figure(1, 2, 2.7)
    for ax, (key, label) in zip(axes[0], (("train_loss", "training loss (cross-entropy)"),
                                          ("miou", f"validation mIoU at {train_px} px"))):
        for name, run in runs.items():
            ax.plot(run.column("epoch"), run.column(key), marker="o", markersize=3,
                    label=DISPLAY_NAMES.get(name, name))
        ax.set(xlabel="epoch", ylabel=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right")  # the losses fall to the lower right
    fig.tight_layout(w_pad=1.5)
    fig.set_label(f"Training loss and validation mIoU at {train_px} px per epoch of {_names(list(runs))}")
    return fig


def confusion_matrices(matrices: dict[str, np.ndarray]) -> Figure:
    """Row-normalised final confusion matrices (by model name) of the scored classes in percent (true class ->
    predicted class), side by side, every cell's share written in it (8.5 pt)."""
    fig, axes = _figure(1, len(matrices), 2.6, layout="constrained")
    names = [CLASS_NAMES[c] for c in SCORED_CLASSES]
    for index, (ax, (name, confusion)) in enumerate(zip(axes.flat, matrices.items())):
        mat = np.asarray(confusion, dtype=float)[np.ix_(SCORED_CLASSES, SCORED_CLASSES)]
        totals = mat.sum(1, keepdims=True)
        share = 100 * np.divide(mat, totals, out=np.zeros_like(mat), where=totals > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
        for (i, j), v in np.ndenumerate(share):
            if v >= 0.5:
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8.5,
                        color="white" if v > 60 else "black")
        ax.set_xticks(range(len(names)), names, rotation=50, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(names)), names if index == 0 else [])
        ax.set(title=DISPLAY_NAMES.get(name, name), xlabel="predicted class", ylabel="true class" if index == 0 else "")
    fig.set_label(f"Row-normalised confusion matrices of the six scored classes in percent (true class against "
                  "predicted class) of "
                  f"{_names(list(matrices))} on the validation set, final models, at the masks' own size")
    return fig
