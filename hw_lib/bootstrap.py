"""How sure is an mIoU, or a difference of two? Bootstrap over validation images.

The course mIoU is not a mean over images: it pools one confusion matrix over the whole split.
So each resample draws validation images with replacement, pools their per-image confusion
matrices and recomputes the course mIoU from the pooled matrix. A paired comparison draws the
same images for both models, so what the images have in common (hard scenes, rare classes)
cancels out of the difference. The interval is the percentile interval of the resampled values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import course_miou

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Interval:
    """A point value (on all images) and its bootstrap interval."""

    value: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``(resamples, n)``: how often each of ``n`` images is drawn in each resample (rows sum to n)."""
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    offsets = np.arange(resamples)[:, None] * n
    return np.bincount((draws + offsets).ravel(), minlength=resamples * n).reshape(resamples, n)


def resampled_miou(per_image: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The course mIoU of each resample: ``per_image`` ``(n, C, C)`` pooled with the weights ``counts``."""
    n, c, _ = per_image.shape
    pooled = counts @ per_image.reshape(n, c * c).astype(np.float64)
    return course_miou(pooled.reshape(-1, c, c))


def _interval(value: float, samples: np.ndarray, level: float) -> Interval:
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high))


def _check(per_image: np.ndarray) -> np.ndarray:
    per_image = np.asarray(per_image)
    if per_image.ndim != 3 or per_image.shape[1] != per_image.shape[2] or len(per_image) == 0:
        raise ValueError(f"expected per-image confusion matrices (N, C, C) with N >= 1, got shape {per_image.shape}")
    return per_image


def miou_interval(per_image: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                  level: float = LEVEL) -> Interval:
    """The course mIoU of all images and its bootstrap interval over images."""
    per_image = _check(per_image)
    samples = resampled_miou(per_image, resample_counts(len(per_image), resamples, seed))
    return _interval(float(course_miou(per_image.sum(0))), samples, level)


def paired_difference(better: np.ndarray, baseline: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                      level: float = LEVEL) -> Interval:
    """mIoU(``better``) - mIoU(``baseline``) on the same images, with a paired bootstrap interval."""
    better, baseline = _check(better), _check(baseline)
    if better.shape != baseline.shape:
        raise ValueError(f"paired models must be scored on the same images: shapes {better.shape} and {baseline.shape}")
    counts = resample_counts(len(better), resamples, seed)
    samples = resampled_miou(better, counts) - resampled_miou(baseline, counts)
    value = float(course_miou(better.sum(0)) - course_miou(baseline.sum(0)))
    return _interval(value, samples, level)
