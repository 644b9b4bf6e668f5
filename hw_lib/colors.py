"""The course colour code: RGB mask <-> class label.

The course scorer binarises each channel at >= 128 and reads ``code = 4R + 2G + B``.
Code 4 (pure red) belongs to no class; like any colour outside the palette it maps to
Unknown (label 6). 27 such pixels exist in the real data (7 in validation/0177).
"""
from __future__ import annotations

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "Urban", "Agriculture", "Rangeland", "Forest", "Water", "Barren", "Unknown",
)
NUM_CLASSES = len(CLASS_NAMES)
URBAN, AGRICULTURE, RANGELAND, FOREST, WATER, BARREN, UNKNOWN = range(NUM_CLASSES)
#: classes that count towards the course mIoU (Unknown is excluded)
SCORED_CLASSES = tuple(range(6))

#: RGB colour of each label, as written to predicted masks
PALETTE = np.array(
    [
        (0, 255, 255),    # Urban        cyan    code 3
        (255, 255, 0),    # Agriculture  yellow  code 6
        (255, 0, 255),    # Rangeland    magenta code 5
        (0, 255, 0),      # Forest       green   code 2
        (0, 0, 255),      # Water        blue    code 1
        (255, 255, 255),  # Barren       white   code 7
        (0, 0, 0),        # Unknown      black   code 0
    ],
    dtype=np.uint8,
)

#: label of each 3-bit colour code 4R + 2G + B; code 4 (red) has no class -> Unknown
CODE_TO_LABEL = np.array([6, 4, 3, 0, UNKNOWN, 2, 1, 5], dtype=np.uint8)


def rgb_to_codes(rgb: np.ndarray) -> np.ndarray:
    """3-bit colour codes (0..7) of an ``(H, W, 3)`` uint8 mask, as the course scorer reads them."""
    bits = (rgb >= 128).astype(np.uint8)
    return 4 * bits[..., 0] + 2 * bits[..., 1] + bits[..., 2]


def rgb_to_labels(rgb: np.ndarray) -> np.ndarray:
    """Class labels (0..6, uint8) of an ``(H, W, 3)`` RGB mask."""
    return CODE_TO_LABEL[rgb_to_codes(rgb)]


def count_off_palette(rgb: np.ndarray) -> int:
    """Pixels whose colour is none of the palette's exactly (``rgb_to_labels`` reads them by threshold)."""
    packed = rgb.astype(np.int64) @ np.array([65536, 256, 1])
    return int((~np.isin(packed, PALETTE.astype(np.int64) @ np.array([65536, 256, 1]))).sum())


def labels_to_rgb(labels: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 course colours of a label map (values 0..6)."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"labels must lie in 0..{NUM_CLASSES - 1}, got {labels.min()}..{labels.max()}")
    return PALETTE[labels]
