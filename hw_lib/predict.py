"""``python -m hw_lib.predict CHECKPOINT INPUT_DIR OUTPUT_DIR``: the course's ``hw3.sh in out`` contract.

Every ``NNNN_sat.jpg`` in INPUT_DIR becomes ``OUTPUT_DIR/NNNN_mask.png`` in the course colours.
Images are resized to the side the run trained at (its checkpoint says which; ``--image-size``
overrides it), or segmented at their own size (each side a multiple of 32, at least 64) where
the run trained at the files' size; masks always come back at the image's own size (the class
scores upsampled bilinearly to it, then the most likely class per pixel).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from .checkpoint import model_from_checkpoint
from .cli import run_cli
from .colors import labels_to_rgb
from .data import MASK_SUFFIX, find_pairs, read_image
from .engine import predict_image
from .runtime import Runtime


def predict_folder(checkpoint: str | Path, input_dir: str | Path, output_dir: str | Path, model_name: str | None = None,
                   device: str = "auto", image_size: int | None = None, progress: bool = True) -> list[Path]:
    """Write a course-colour mask for every image of ``input_dir``; returns the written paths."""
    pairs = find_pairs(input_dir, require_masks=False)
    model, config = model_from_checkpoint(checkpoint, model_name)
    if image_size is None and config is not None:
        image_size = config.image_size  # the side the run trained at
    runtime = Runtime.create(device, config.precision if config else "auto")  # the run's own precision
    runtime.prepare(model)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for pair in tqdm(pairs, unit="img", disable=not progress, file=sys.stderr):
        try:
            labels = predict_image(model, read_image(pair.image), runtime, image_size)
        except ValueError as e:  # ImageSizeError: name the file
            raise type(e)(f"{pair.image}: {e}") from None
        path = output_dir / f"{pair.id}{MASK_SUFFIX}"
        Image.fromarray(labels_to_rgb(labels)).save(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.predict", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a run's model.pt or checkpoint.pt (or a bare state_dict with --model)")
    parser.add_argument("input_dir", help="folder of NNNN_sat.jpg")
    parser.add_argument("output_dir", help="folder to write NNNN_mask.png into (created)")
    parser.add_argument("--model", default=None, help="model of a bare state_dict: fcn32s, fcn16s or fcn8s")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--image-size", type=int, default=None,
                        help="resize images to this side before predicting (default: the side the run trained at)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    written = predict_folder(args.checkpoint, args.input_dir, args.output_dir, args.model, args.device,
                             args.image_size, progress=not args.no_progress)
    print(f"wrote {len(written)} masks to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
