"""The report's claims follow its numbers, whichever way they come out."""
from pathlib import Path

import numpy as np

from hw_lib import analysis
from hw_lib.colors import CLASS_NAMES
from hw_lib.runs import Run


def fake_run(name: str, mious: list[float], boundary: float, interior: float, confusion: np.ndarray) -> Run:
    history = [{"epoch": e + 1, "miou": m, "boundary_accuracy": boundary, "interior_accuracy": interior,
                "train_loss": 1.0} for e, m in enumerate(mious)]
    iou = {c: mious[-1] for c in CLASS_NAMES[:6]}
    summary = {"data_source": "real", "weights": "none: from scratch", "epochs": len(mious), "final_miou": mious[-1],
               "best_miou": max(mious), "best_epoch": int(np.argmax(mious)) + 1, "final_iou": iou,
               "final_pixel_accuracy": 0.8, "band_width_px": 8, "boundary_fraction": 0.2, "device": "cuda (H100)",
               "precision": "bf16", "train_images_per_second": 800.0, "wall_seconds": 60.0,
               "confusion": confusion.tolist()}
    config = {"optimizer": "adamw", "lr": 3e-4, "weight_decay": 1e-4, "schedule": "onecycle", "batch_size": 16,
              "augment": True, "class_weighting": "none", "seed": 0, "model": name}
    provenance = {"data_dir": "/data", "train_pairs": 2000, "val_pairs": 257, "image_size": 512, "git_commit": "abc"}
    return Run(Path(name), config, provenance, history, summary)


SPREAD = np.eye(7) * 100 + 1


def test_a_losing_fcn8s_is_reported_as_such_with_reasons():
    runs = {"fcn32s": fake_run("fcn32s", [0.5, 0.6, 0.62], 0.70, 0.90, SPREAD),
            "fcn16s": fake_run("fcn16s", [0.5, 0.58, 0.61], 0.70, 0.90, SPREAD),
            "fcn8s": fake_run("fcn8s", [0.4, 0.5, 0.55, 0.56, 0.60], 0.69, 0.88, SPREAD)}
    text = analysis.discussion(analysis.results(runs), runs)
    assert "**FCN8s does not beat FCN32s** on this data: final mIoU 0.600 against 0.620 (-0.020)" in text
    assert "Why: FCN8s was still improving" in text and "trained from scratch" in text
    assert "not more accurate at boundaries either" in text
    assert "beats" not in text


def test_a_winning_fcn8s_with_boundary_gains_and_a_collapsed_baseline():
    collapsed = np.zeros((7, 7))
    collapsed[:, 1] = 100  # everything predicted Agriculture
    runs = {"fcn32s": fake_run("fcn32s", [0.1, 0.1], 0.30, 0.40, collapsed),
            "fcn16s": fake_run("fcn16s", [0.3, 0.5], 0.60, 0.85, SPREAD),
            "fcn8s": fake_run("fcn8s", [0.4, 0.6], 0.70, 0.86, SPREAD)}
    table = analysis.results(runs)
    text = analysis.discussion(table, runs)
    assert "**FCN8s beats FCN32s**" in text and "Why:" not in text
    assert "fcn32s predicts Agriculture for 100.0% of the validation pixels" in text
    assert "Against FCN16s, FCN8s gains more at boundaries than inside regions" in text
    assert "fcn32s never left its single class" in text
    assert table["fcn8s"]["dominant_prediction"]["class"] in CLASS_NAMES
    assert "| fcn8s | 0.600 | 0.600 (2) |" in analysis.miou_table(table)
