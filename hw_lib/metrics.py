"""The course mIoU from a confusion matrix accumulated over a whole split; accuracy by distance to a boundary.

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

import numpy as np
import torch
import torch.nn.functional as F

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

    def compute(self) -> Scores:
        return scores_from_matrix(self.mat.cpu().numpy())


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


#: a model that gives one class this share of the pixels or more has collapsed to (nearly) one class
COLLAPSE_SHARE = 0.95


@dataclass(frozen=True)
class ClassShare:
    """A class and its share of the pixels."""

    name: str
    share: float


def most_predicted(confusion: np.ndarray) -> ClassShare:
    """The class predicted most often in a ``(C, C)`` confusion matrix, and its share of the pixels."""
    predicted = np.asarray(confusion, dtype=np.float64).sum(0)
    top = int(predicted.argmax())
    return ClassShare(CLASS_NAMES[top], float(predicted[top] / predicted.sum()))


def constant_prediction(per_image: np.ndarray, label: int) -> np.ndarray:
    """The per-image confusion matrices of predicting ``label`` everywhere on the same images."""
    out = np.zeros_like(per_image)
    out[..., label] = per_image.sum(-1)
    return out


#: upper edges (in pixels of the prediction grid) of the distance-to-boundary bins; the last bin is open
DISTANCE_EDGES = (2, 4, 8, 16)


def boundary_distance(labels: torch.Tensor, cap: int = DISTANCE_EDGES[-1]) -> torch.Tensor:
    """``(N, H, W)`` int: each pixel's distance (Chebyshev, in pixels) to the nearest pixel of another
    class, ``cap + 1`` where none lies within ``cap``. One 3x3 dilation per pixel of distance."""
    x = labels.float().unsqueeze(1)
    hi, lo = x, x
    distance = torch.full(labels.shape, cap + 1, dtype=torch.int64, device=labels.device)
    for d in range(1, cap + 1):
        hi = F.max_pool2d(hi, 3, stride=1, padding=1)
        lo = -F.max_pool2d(-lo, 3, stride=1, padding=1)
        reached = ((hi != lo).squeeze(1)) & (distance > cap)
        distance[reached] = d
    return distance


@dataclass(frozen=True)
class DistanceBin:
    """Pixel accuracy of the pixels whose distance to a class boundary lies in ``(low, high]``."""

    low: int
    high: int | None  # None: open-ended
    pixel_share: float
    accuracy: float | None  # None where the bin is empty

    @property
    def label(self) -> str:
        return f"> {self.low} px" if self.high is None else f"{self.low + 1}-{self.high} px"


def accuracy_by_boundary_distance(pred: torch.Tensor, target: torch.Tensor,
                                  edges: tuple[int, ...] = DISTANCE_EDGES) -> list[DistanceBin]:
    """Pixel accuracy in bins of distance to the nearest ground-truth class boundary (:func:`boundary_distance`)."""
    distance = boundary_distance(target, edges[-1])
    correct = pred == target
    bins, low = [], 0
    for high in (*edges, None):
        inside = distance > low if high is None else (distance > low) & (distance <= high)
        n = int(inside.sum())
        bins.append(DistanceBin(low, high, n / distance.numel(), float((correct & inside).sum()) / n if n else None))
        low = high if high is not None else low
    return bins


@dataclass(frozen=True)
class FinalScores:
    """Per-image confusion matrices ``(N, C, C)`` of a split at ``side`` px."""

    ids: list[str]
    per_image: np.ndarray
    side: int

    @property
    def scores(self) -> Scores:
        """The course scores of the whole split (its pooled matrix)."""
        return scores_from_matrix(self.per_image.sum(0))
