"""The course mIoU from a confusion matrix accumulated over a whole split, and boundary accuracy.

IoU of class c = TP / (TP + FP + FN) over all pixels of the split; the mIoU averages classes 0-5
(Urban..Barren). Unknown (6) is not averaged, but an Unknown ground-truth pixel predicted as c is
a false positive of c, and a pixel of c predicted Unknown a false negative, as in the course
scorer. A class absent from both prediction and truth has an undefined IoU (0/0): it is NaN
and left out of the mean (the course scorer would print nan for the mIoU instead). On the real
validation split every class is present, so both agree.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import atomic
from .colors import CLASS_NAMES, NUM_CLASSES, SCORED_CLASSES


@dataclass(frozen=True)
class Scores:
    """Per-class IoU (NaN where undefined), the course mIoU and pixel accuracy."""

    iou: tuple[float, ...]
    miou: float
    pixel_accuracy: float

    def per_class(self) -> dict[str, float | None]:
        """IoU by class name for the scored classes (None where undefined), JSON-ready."""
        return {CLASS_NAMES[c]: None if math.isnan(self.iou[c]) else self.iou[c] for c in SCORED_CLASSES}

    def course_report(self) -> str:
        """The course scorer's printout: ``class #c : iou`` lines, then ``mean_iou``."""
        lines = [f"class #{c} : {self.iou[c]:1.5f}" for c in SCORED_CLASSES]
        return "\n".join(lines) + f"\n\nmean_iou: {self.miou:f}"


class ConfusionMatrix:
    """``mat[t, p]`` counts pixels of true class t predicted as p; updated on the tensors' device."""

    def __init__(self, num_classes: int = NUM_CLASSES, device: torch.device | str | None = None) -> None:
        self.num_classes = num_classes
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, target: torch.Tensor, pred: torch.Tensor) -> None:
        """Add a batch of label maps (any equal shapes, values in ``0..num_classes-1``)."""
        n = self.num_classes
        index = target.reshape(-1).long() * n + pred.reshape(-1).long()
        self.mat += torch.bincount(index, minlength=n * n).reshape(n, n).to(self.mat.device)

    def reset(self) -> None:
        self.mat.zero_()

    def compute(self) -> Scores:
        return scores_from_matrix(self.mat.cpu().numpy())

    def __str__(self) -> str:
        scores = self.compute()
        names = " ".join(f"{CLASS_NAMES[c][:5]}={scores.iou[c]:.3f}" for c in SCORED_CLASSES)
        return f"mIoU {scores.miou:.4f}  pixel acc {scores.pixel_accuracy:.4f}  {names}"


def iou_from_matrices(mats: np.ndarray) -> np.ndarray:
    """Per-class IoU of confusion matrices ``(..., C, C)`` -> ``(..., C)``, NaN where 0/0."""
    mats = np.asarray(mats, dtype=np.float64)
    tp = np.diagonal(mats, axis1=-2, axis2=-1)
    union = mats.sum(-2) + mats.sum(-1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / union


def course_miou(mats: np.ndarray) -> np.ndarray:
    """The course mIoU of confusion matrices ``(..., C, C)``: the mean IoU of classes 0-5, NaN ones left out."""
    scored = iou_from_matrices(mats)[..., list(SCORED_CLASSES)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        return np.nanmean(scored, axis=-1)


def scores_from_matrix(mat: np.ndarray) -> Scores:
    """:class:`Scores` of one ``(C, C)`` confusion matrix (``mat[t, p]``)."""
    mat = np.asarray(mat, dtype=np.float64)
    total = mat.sum()
    accuracy = float(np.trace(mat) / total) if total else float("nan")
    return Scores(tuple(float(v) for v in iou_from_matrices(mat)), float(course_miou(mat)), accuracy)


def per_image_confusion(target: torch.Tensor, pred: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """``(N, C, C)`` int64 confusion matrices, one per image of label maps ``(N, H, W)``, on their device."""
    n = target.shape[0]
    image = torch.arange(n, device=target.device).view(n, *([1] * (target.dim() - 1)))
    index = (image * num_classes + target.long()) * num_classes + pred.long()
    return torch.bincount(index.reshape(-1), minlength=n * num_classes**2).reshape(n, num_classes, num_classes)


def boundary_band(labels: torch.Tensor, width: int) -> torch.Tensor:
    """Boolean ``(N, H, W)``: pixels within ``width`` pixels (square window) of another class."""
    x = labels.float().unsqueeze(1)
    k = 2 * width + 1
    hi = F.max_pool2d(x, k, stride=1, padding=width)
    lo = -F.max_pool2d(-x, k, stride=1, padding=width)
    return (hi != lo).squeeze(1)


@dataclass(frozen=True)
class BandAccuracy:
    """Pixel accuracy near class boundaries and in region interiors."""

    boundary: float
    interior: float
    boundary_fraction: float


def band_width(side: int) -> int:
    """The boundary band the project reports: 1/64 of the image side (8 px at 512), at least 1 px."""
    return max(1, side // 64)


def band_accuracy(pred: torch.Tensor, target: torch.Tensor, band: torch.Tensor) -> BandAccuracy:
    """Accuracy inside ``band`` (see :func:`boundary_band`) versus outside it."""
    correct = pred == target
    n_band = int(band.sum())
    n_interior = band.numel() - n_band

    def ratio(hits: torch.Tensor, n: int) -> float:
        return float(hits.sum()) / n if n else float("nan")

    return BandAccuracy(ratio(correct & band, n_band), ratio(correct & ~band, n_interior), n_band / band.numel())


@dataclass(frozen=True)
class FinalScores:
    """Per-image confusion matrices ``(N, C, C)`` at ``side`` px and the boundary-band accuracy there."""

    ids: list[str]
    per_image: np.ndarray
    side: int
    band: BandAccuracy

    @property
    def scores(self) -> Scores:
        """The course scores of the whole split (its pooled matrix)."""
        return scores_from_matrix(self.per_image.sum(0))

    def save(self, path: str | Path) -> None:
        with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, ids=np.array(self.ids), per_image=self.per_image, side=self.side,
                     band=np.array([self.band.boundary, self.band.interior, self.band.boundary_fraction]))

    @classmethod
    def load(cls, path: str | Path) -> "FinalScores":
        with np.load(path) as f:
            return cls([str(i) for i in f["ids"]], f["per_image"], int(f["side"]), BandAccuracy(*map(float, f["band"])))
