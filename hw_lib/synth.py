"""Synthetic, satellite-like demo data in the course format: ``python -m hw_lib.synth OUT_DIR``.

Each image is a map of warped Voronoi regions, one land-cover class per region, painted with a
texture per class (striped fields, blocky urban grids, fine-grained forest, smooth water...),
plus small objects (buildings, ponds), rivers and, now and then, a black no-data corner
(Unknown). Colour and texture identify the class locally, so an FCN learns it; region borders
are irregular and objects small, so the skip connections of FCN16s/8s visibly help there.
Deterministic by seed. Everything made from it is labelled synthetic (``data.data_source``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .colors import UNKNOWN, URBAN, WATER, labels_to_rgb
from .config import DEFAULT, RunConfig
from .data import IMAGE_SUFFIX, MASK_SUFFIX, SAMPLE_IDS, SYNTHETIC_MARKER, TRAIN, VALIDATION

CLASS_PRIORS = np.array([0.13, 0.40, 0.12, 0.14, 0.07, 0.14])
BASE_COLOURS = np.array(
    [(150, 150, 155), (175, 175, 90), (150, 140, 100), (45, 85, 45), (35, 60, 105), (205, 190, 160)],
    dtype=np.float32,
)


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Noise in [-1, 1] with features about ``scale`` pixels wide."""
    cells = max(2, int(np.ceil(size / scale)) + 1)
    low = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    big = int(np.ceil(cells * scale))
    image = Image.fromarray(low, mode="F").resize((big, big), Image.Resampling.BICUBIC)
    return np.asarray(image)[:size, :size].clip(-1, 1)


def _label_map(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Region ids and class labels of one image."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    warp = size / 8 * np.stack([_smooth_noise(rng, size, size / 3) for _ in range(2)])
    warp += size / 40 * np.stack([_smooth_noise(rng, size, size / 16) for _ in range(2)])
    n_regions = int(rng.integers(4, 10))
    seeds = rng.uniform(0, size, (n_regions, 2)).astype(np.float32)
    dist = (yy + warp[0] - seeds[:, 0, None, None]) ** 2 + (xx + warp[1] - seeds[:, 1, None, None]) ** 2
    regions = dist.argmin(0)
    labels = rng.choice(6, size=n_regions, p=CLASS_PRIORS)[regions].astype(np.uint8)

    for _ in range(int(rng.integers(0, 6))):  # buildings and ponds: objects a few pixels wide
        cls = URBAN if rng.random() < 0.6 else WATER
        h, w = (rng.uniform(0.03, 0.09, 2) * size).astype(int) + 2
        y, x = rng.integers(0, size - h), rng.integers(0, size - w)
        if cls == URBAN:
            labels[y : y + h, x : x + w] = URBAN
        else:
            inside = ((yy - y - h / 2) / (h / 2)) ** 2 + ((xx - x - w / 2) / (w / 2)) ** 2 <= 1
            labels[inside] = WATER
    if rng.random() < 0.3:  # a river
        angle = rng.uniform(0, np.pi)
        across = (xx - size / 2) * np.cos(angle) + (yy - size / 2) * np.sin(angle)
        along = -(xx - size / 2) * np.sin(angle) + (yy - size / 2) * np.cos(angle)
        centre = size / 6 * np.sin(along / size * rng.uniform(2, 6)) + rng.uniform(-size / 4, size / 4)
        labels[np.abs(across - centre) < rng.uniform(0.015, 0.04) * size] = WATER
    if rng.random() < 0.1:  # a no-data corner
        labels[(xx + yy * rng.uniform(0.5, 2)) < rng.uniform(0.1, 0.4) * size] = UNKNOWN
    return regions, labels


def _paint(rng: np.random.Generator, regions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """An RGB image whose colour and texture follow the labels."""
    size = labels.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    n_regions = int(regions.max()) + 1
    angle = rng.uniform(0, np.pi, n_regions)[regions]
    period = rng.uniform(size / 28, size / 12, n_regions)[regions]
    stripes = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    blocks = np.kron(rng.uniform(-1, 1, (size // 4 + 1,) * 2), np.ones((4, 4)))[:size, :size]
    textures = np.stack(
        [
            30 * blocks + 10 * _smooth_noise(rng, size, 2),           # urban: blocky grid
            22 * stripes + 8 * _smooth_noise(rng, size, size / 8),     # agriculture: field stripes
            18 * _smooth_noise(rng, size, size / 16) + 8 * _smooth_noise(rng, size, 3),  # rangeland
            28 * _smooth_noise(rng, size, 2.5),                       # forest: tree crowns
            6 * _smooth_noise(rng, size, size / 6),                   # water: smooth
            14 * _smooth_noise(rng, size, size / 10),                 # barren
        ]
    )
    shade = np.where(labels < UNKNOWN, labels, 0)
    region_tint = rng.normal(0, 10, (n_regions, 3)).astype(np.float32)[regions]
    image = BASE_COLOURS[shade] + region_tint + np.take_along_axis(textures, shade[None], 0)[0][..., None]
    image *= rng.uniform(0.85, 1.15)  # global brightness
    image += rng.normal(0, 4, image.shape)
    image[labels == UNKNOWN] = 0
    return image.clip(0, 255).astype(np.uint8)


def make_sample(seed: int, split: str, index: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """One deterministic ``(image (H, W, 3) uint8, labels (H, W) uint8)`` pair."""
    rng = np.random.default_rng([seed, 0 if split == TRAIN else 1, index])
    regions, labels = _label_map(rng, size)
    return _paint(rng, regions, labels), labels


def validation_ids(count: int) -> list[int]:
    """``count`` ids that include the report's sample ids 0008, 0097 and 0107."""
    required = [int(i) for i in SAMPLE_IDS]
    if count < len(required):
        raise ValueError(f"validation needs at least {len(required)} images for the ids {SAMPLE_IDS}")
    rest = [i for i in range(count) if i not in required][: count - len(required)]
    return sorted(rest + required)


def write_dataset(out_dir: str | Path, n_train: int = 32, n_val: int = 12, size: int = 96, seed: int = 0) -> Path:
    """Write ``train/`` and ``validation/`` under ``out_dir``, with their checksums (``write_checksums``).

    Files already written with the same parameters are kept; a folder this module wrote with other
    parameters is written anew (it is generated data, reproducible from its SYNTHETIC.json).
    """
    out_dir = Path(out_dir)
    params = {"synthetic": True, "generator": "hw_lib.synth", "train": n_train, "validation": n_val,
              "size": size, "seed": seed}
    marker = out_dir / SYNTHETIC_MARKER
    if marker.exists() and json.loads(marker.read_text()) != params:
        for split in (TRAIN, VALIDATION):
            shutil.rmtree(out_dir / split, ignore_errors=True)
    for split, ids in ((TRAIN, range(n_train)), (VALIDATION, validation_ids(n_val))):
        folder = out_dir / split
        folder.mkdir(parents=True, exist_ok=True)
        for index in ids:
            image_path = folder / f"{index:04d}{IMAGE_SUFFIX}"
            mask_path = folder / f"{index:04d}{MASK_SUFFIX}"
            if image_path.exists() and mask_path.exists():
                continue
            image, labels = make_sample(seed, split, index, size)
            Image.fromarray(labels_to_rgb(labels)).save(mask_path)
            Image.fromarray(image).save(image_path, quality=90)
    write_checksums(out_dir)
    marker.write_text(json.dumps(params, indent=2) + "\n")
    return out_dir


def write_checksums(out_dir: str | Path) -> None:
    """``train.sha256`` and ``validation.sha256`` beside the splits, as the course data has them (what
    ``cd train && sha256sum -c ../train.sha256`` checks)."""
    for split in (TRAIN, VALIDATION):
        files = sorted(p for p in (Path(out_dir) / split).iterdir() if p.is_file())
        lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in files]
        (Path(out_dir) / f"{split}.sha256").write_text("".join(lines))


def ensure_demo_data(out_dir: str | Path = DEFAULT) -> Path:
    """The demo's synthetic data in ``out_dir`` (``"default"``: the demo preset's folder), written when the
    folder does not exist yet; an existing folder is used as it is."""
    out_dir = Path(RunConfig.data_dir if out_dir == DEFAULT else out_dir)
    if not out_dir.exists():
        write_dataset(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.synth", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder to write train/ and validation/ into")
    parser.add_argument("--train", type=int, default=32, help="number of training pairs (default 32)")
    parser.add_argument("--val", type=int, default=12, help="number of validation pairs, >= 3 (default 12)")
    parser.add_argument("--size", type=int, default=96, help="image side in pixels (default 96)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.val < len(SAMPLE_IDS) or args.train < 1 or args.size < 32:
        parser.error("need --train >= 1, --val >= 3 and --size >= 32")
    out = write_dataset(args.out_dir, args.train, args.val, args.size, args.seed)
    print(f"wrote synthetic data to {out}/train ({args.train}) and {out}/validation ({args.val}), {args.size} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
