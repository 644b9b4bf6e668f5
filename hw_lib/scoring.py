"""A run's final score: the course metric at the masks' own size, image by image.

Exactly what ``python -m hw_lib.predict`` and then ``python -m hw_lib.evaluate`` give on the
validation folder: every image is resized to the training side as predict resizes it,
segmented, its class scores brought back to the mask's size (bilinear) and compared with
the mask as the course scorer reads it. The confusion matrices are kept per image, so that
:mod:`hw_lib.bootstrap` can draw intervals over images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .colors import rgb_to_labels
from .data import IMAGE_SUFFIX, MASK_SUFFIX, read_image, read_mask_rgb
from .engine import predict_image
from .errors import DataError
from .metrics import FinalScores, per_image_confusion
from .models import FCN
from .runtime import Runtime


def score_folder(model: FCN, folder: str | Path, ids: list[str], runtime: Runtime,
                 image_size: int | None) -> FinalScores:
    """Segment ``folder``'s images ``ids`` as predict does and score them against their masks."""
    folder = Path(folder)
    matrices, sides = [], set()
    for sample_id in ids:
        image = read_image(folder / f"{sample_id}{IMAGE_SUFFIX}")
        truth = torch.from_numpy(rgb_to_labels(read_mask_rgb(folder / f"{sample_id}{MASK_SUFFIX}")))[None]
        pred = torch.from_numpy(predict_image(model, image, runtime, image_size))[None]
        if pred.shape != truth.shape:
            raise DataError(f"{folder / (sample_id + MASK_SUFFIX)}: mask is {truth.shape[2]}x{truth.shape[1]} but its "
                            f"image is {image.shape[1]}x{image.shape[0]}")
        matrices.append(per_image_confusion(truth, pred)[0].numpy())
        sides.add(truth.shape[-1])
    if len(sides) != 1:
        raise DataError(f"{folder}: masks of several sizes ({sorted(sides)}); the final score needs one size")
    return FinalScores(list(ids), np.stack(matrices), sides.pop())
