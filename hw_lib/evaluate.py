"""``python -m hw_lib.evaluate -g GT_DIR -p PRED_DIR``: the course scorer, pairing masks by name.

Prints per-class IoU and the mIoU exactly as the course's ``mean_iou_evaluate.py`` does (its
colour rule, its class order), plus pixel accuracy. Unlike the course script, which pairs the
two folders' sorted file lists blindly, it refuses sets that do not match file for file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .cli import run_cli
from .colors import rgb_to_labels
from .data import find_masks, listing, read_mask_rgb
from .errors import DataError
from .metrics import ConfusionMatrix, Scores


def matched_masks(gt_dir: str | Path, pred_dir: str | Path) -> list[tuple[Path, Path]]:
    """``(ground truth, prediction)`` mask paths paired by file name; mismatched sets raise DataError."""
    gt, pred = find_masks(gt_dir), find_masks(pred_dir)
    if not gt:
        raise DataError(f"{gt_dir}: no NNNN_mask.png ground-truth masks in this folder")
    missing = sorted(gt[i] for i in gt.keys() - pred.keys())
    extra = sorted(pred[i] for i in pred.keys() - gt.keys())
    problems = []
    if missing:
        problems.append(f"{len(missing)} prediction(s) missing from {pred_dir}: {listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} prediction(s) in {pred_dir} have no ground truth in {gt_dir}: {listing(extra)}")
    if problems:
        raise DataError("; ".join(problems))
    return [(gt[i], pred[i]) for i in sorted(gt)]


def evaluate_folders(gt_dir: str | Path, pred_dir: str | Path) -> Scores:
    """Course scores of the predicted masks in ``pred_dir`` against ``gt_dir``."""
    matrix = ConfusionMatrix()
    for gt_path, pred_path in matched_masks(gt_dir, pred_dir):
        gt, pred = read_mask_rgb(gt_path), read_mask_rgb(pred_path)
        if gt.shape != pred.shape:
            raise DataError(f"{pred_path}: is {pred.shape[1]}x{pred.shape[0]} but the ground truth "
                            f"{gt_path} is {gt.shape[1]}x{gt.shape[0]}")
        matrix.update(torch.from_numpy(rgb_to_labels(gt)), torch.from_numpy(rgb_to_labels(pred)))
    return matrix.compute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("-g", "--groundtruth", required=True, help="folder of ground-truth NNNN_mask.png")
    parser.add_argument("-p", "--pred", required=True, help="folder of predicted NNNN_mask.png")
    args = parser.parse_args(argv)
    scores = evaluate_folders(args.groundtruth, args.pred)
    print(scores.course_report())
    print(f"pixel_accuracy: {scores.pixel_accuracy:f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
