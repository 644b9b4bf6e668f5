"""Pairs of ``NNNN_sat.jpg`` + ``NNNN_mask.png``: discovery, checked decoding, datasets.

Every problem with the files raises :class:`~hw_lib.errors.DataError` naming the file.
Mask rules (documented in the README):

- RGB masks are read like the course scorer (see :mod:`hw_lib.colors`); RGBA drops alpha.
- Palette-mode (``P``) masks are converted through their palette to RGB.
- Greyscale masks (modes ``1``, ``L``, ``I``, ``F``) are refused: they carry no course colours.
- Pixels whose colour is not one of the 7 palette colours are counted (see ``Split.off_palette``)
  and mapped by the course rule (threshold each channel at 128; pure red -> Unknown).
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .colors import count_off_palette, rgb_to_labels
from .errors import ConfigError, DataError

TRAIN, VALIDATION = "train", "validation"
#: the validation images whose masks the homework asks to show during training
SAMPLE_IDS = ("0008", "0097", "0107")
#: file at the top of a synthetic data folder (written by :mod:`hw_lib.synth`)
SYNTHETIC_MARKER = "SYNTHETIC.json"
IMAGE_SUFFIX = "_sat.jpg"
MASK_SUFFIX = "_mask.png"
GREYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass(frozen=True)
class Pair:
    """One sample: its id (``NNNN``), image path and mask path (None when masks are not needed)."""

    id: str
    image: Path
    mask: Path | None


def _check_folder(root: Path) -> None:
    if not root.exists():
        raise DataError(f"{root}: data folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: is not a folder")


def _by_id(root: Path, suffix: str) -> dict[str, Path]:
    return {p.name[: -len(suffix)]: p for p in root.iterdir() if p.name.endswith(suffix) and p.is_file()}


def find_masks(root: str | Path) -> dict[str, Path]:
    """``{id: path}`` of every ``NNNN_mask.png`` in ``root``."""
    root = Path(root)
    _check_folder(root)
    return _by_id(root, MASK_SUFFIX)


def listing(paths: list[Path], limit: int = 5) -> str:
    """``a, b, c and 4 more``: a short list of file names for messages."""
    names = ", ".join(p.name for p in paths[:limit])
    return names + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def find_pairs(root: str | Path, require_masks: bool = True) -> list[Pair]:
    """All ``NNNN_sat.jpg`` (+ ``NNNN_mask.png``) in ``root``, paired by id and sorted by id."""
    root = Path(root)
    _check_folder(root)
    images = _by_id(root, IMAGE_SUFFIX)
    masks = _by_id(root, MASK_SUFFIX) if require_masks else {}
    if not images and not masks:
        hint = ""
        subfolders = sorted(p.name for p in root.iterdir() if p.is_dir())
        if subfolders:
            hint = f" (it has the subfolders {', '.join(subfolders[:5])}: point at one of them)"
        expected = f"NNNN{IMAGE_SUFFIX}" + (f" + NNNN{MASK_SUFFIX}" if require_masks else "")
        raise DataError(f"{root}: no {expected} files in this folder{hint}")
    if require_masks:
        no_mask = sorted(root / f"{i}{MASK_SUFFIX}" for i in images.keys() - masks.keys())
        if no_mask:
            raise DataError(f"{no_mask[0]}: missing; these masks are missing for their images: {listing(no_mask)}")
        no_image = sorted(root / f"{i}{IMAGE_SUFFIX}" for i in masks.keys() - images.keys())
        if no_image:
            raise DataError(f"{no_image[0]}: missing; these images are missing for their masks: {listing(no_image)}")
    return [Pair(i, images[i], masks.get(i)) for i in sorted(images)]


def split_dirs(data_dir: str | Path) -> tuple[Path, Path]:
    """``data_dir/train`` and ``data_dir/validation``, which must exist."""
    _check_folder(Path(data_dir))
    dirs = Path(data_dir) / TRAIN, Path(data_dir) / VALIDATION
    for folder in dirs:
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder does not exist (data_dir must hold {TRAIN}/ and {VALIDATION}/)")
    return dirs


def data_source(data_dir: str | Path) -> str:
    """``"synthetic"`` for a folder written by :mod:`hw_lib.synth` (or a split of one), else ``"real"``."""
    data_dir = Path(data_dir)
    synthetic = (data_dir / SYNTHETIC_MARKER).exists() or (data_dir.parent / SYNTHETIC_MARKER).exists()
    return "synthetic" if synthetic else "real"


def fingerprint(data_dir: str | Path) -> str:
    """A short hash of the pairs' names and byte sizes in train/ and validation/: the same data
    wherever it lies on disk."""
    digest = hashlib.sha256()
    for folder in split_dirs(data_dir):
        for pair in find_pairs(folder):
            for path in (pair.image, pair.mask):
                digest.update(f"{Path(folder).name}/{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def validation_ids(val_dir: str | Path, sample_ids: list[str], limit: int | None = None) -> list[str]:
    """The validation ids a run uses: all of ``val_dir``'s, or its first ``limit`` plus the ``sample_ids``
    (which must be there)."""
    ids = [p.id for p in find_pairs(val_dir)]
    missing = [i for i in sample_ids if i not in ids]
    if missing:
        raise ConfigError(f"sample_ids: {', '.join(missing)} not in {val_dir}")
    if limit is None:
        return ids
    kept = ids[:limit]
    return kept + [i for i in sample_ids if i not in kept]


def read_image(path: str | Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a satellite image (greyscale images are expanded to RGB)."""
    try:
        with Image.open(path) as im:
            im.load()
            return np.array(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read the image: it is truncated or corrupt ({e})") from None


def read_mask_rgb(path: str | Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a mask PNG, following the mask rules of this module."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in GREYSCALE_MODES:
                raise DataError(
                    f"{path}: greyscale mask (mode {im.mode}); masks must be RGB in the course colours "
                    "(to convert class indices 0-6, use hw_lib.colors.labels_to_rgb)"
                )
            return np.array(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read the mask: it is truncated or corrupt ({e})") from None


def _resize(array: np.ndarray, size: int, resample: Image.Resampling) -> np.ndarray:
    if array.shape[0] == size and array.shape[1] == size:
        return array
    return np.array(Image.fromarray(array).resize((size, size), resample))


def resize_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """An ``(H, W)`` label map resized to ``size`` square by nearest neighbour (no class is invented)."""
    return _resize(labels, size, Image.Resampling.NEAREST)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 image resized to ``size`` square (PIL bilinear, antialiased when shrinking).

    Training, validation and ``predict`` all resize through here, so a model sees at test time
    exactly the kind of input it was trained on.
    """
    return _resize(image, size, Image.Resampling.BILINEAR)


@dataclass
class Sample:
    """A decoded pair: image ``(H, W, 3)`` uint8, labels ``(H, W)`` uint8, off-palette pixel count."""

    image: np.ndarray
    labels: np.ndarray
    off_palette: int


def load_pair(pair: Pair, image_size: int | None = None) -> Sample:
    """Decode and check one pair, optionally resized to ``image_size`` square (labels: nearest)."""
    if pair.mask is None:
        raise DataError(f"{pair.image}: has no mask")
    image = read_image(pair.image)
    rgb = read_mask_rgb(pair.mask)
    if image.shape[:2] != rgb.shape[:2]:
        raise DataError(
            f"{pair.mask}: mask is {rgb.shape[1]}x{rgb.shape[0]} but its image {pair.image.name} "
            f"is {image.shape[1]}x{image.shape[0]}"
        )
    labels = rgb_to_labels(rgb)
    off_palette = count_off_palette(rgb)
    if image_size is not None:
        image = resize_image(image, image_size)
        labels = resize_labels(labels, image_size)
    return Sample(image, labels, off_palette)


@dataclass
class Split:
    """A whole split decoded once: uint8 ``images (N, 3, H, W)`` and ``labels (N, H, W)``."""

    root: Path
    ids: list[str]
    images: torch.Tensor
    labels: torch.Tensor
    off_palette: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.root, self.ids, self.images.to(device), self.labels.to(device), self.off_palette)

    def off_palette_note(self) -> str | None:
        """One line about mask pixels outside the palette, or None when there are none."""
        if not self.off_palette:
            return None
        total = sum(self.off_palette.values())
        worst = max(self.off_palette, key=self.off_palette.get)
        files = f"{len(self.off_palette)} file{'s' if len(self.off_palette) > 1 else ''}"
        return (
            f"{self.root}: {total} mask pixels in {files} are not palette colours "
            f"(most in {worst}{MASK_SUFFIX}: {self.off_palette[worst]}); read by the course threshold rule, "
            "pure red as Unknown"
        )


def load_split(
    root: str | Path,
    image_size: int | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
    workers: int | None = None,
) -> Split:
    """Decode a folder of pairs into memory (threads decode in parallel); all images must share a size.

    ``limit`` keeps the first ``limit`` pairs by id; ``ids`` keeps exactly these ids (in this order).
    """
    pairs = find_pairs(root)
    if ids is not None:
        by_id = {p.id: p for p in pairs}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise DataError(f"{root}: no pair with id {', '.join(missing)}")
        pairs = [by_id[i] for i in ids]
    if limit is not None:
        pairs = pairs[:limit]
    with ThreadPoolExecutor(max_workers=workers or min(16, os.cpu_count() or 1)) as pool:
        samples = list(pool.map(lambda p: load_pair(p, image_size), pairs))
    first = samples[0].labels.shape
    for pair, sample in zip(pairs, samples):
        if sample.labels.shape != first:
            raise DataError(
                f"{pair.image}: is {sample.labels.shape[1]}x{sample.labels.shape[0]} but {pairs[0].image.name} "
                f"is {first[1]}x{first[0]}; all images of a split must share one size (or set image_size)"
            )
    images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(np.stack([s.labels for s in samples]))
    off_palette = {p.id: s.off_palette for p, s in zip(pairs, samples) if s.off_palette}
    return Split(Path(root), [p.id for p in pairs], images, labels, off_palette)
