"""The report's claims follow its numbers (and their intervals), whichever way they come out."""
from pathlib import Path

import numpy as np
import pytest

from hw_lib import analysis
from hw_lib.colors import CLASS_NAMES
from hw_lib.metrics import BandAccuracy, FinalScores, scores_from_matrix
from hw_lib.runs import Run

IDS = [f"{i:04d}" for i in range(40)]


def per_image(right: float, rng: np.random.Generator) -> np.ndarray:
    """40 images whose pixels are right with probability ``right``, else predicted as the next class."""
    mats = np.zeros((len(IDS), 7, 7), dtype=np.int64)
    for mat in mats:
        for c in range(6):
            n = int(rng.integers(50, 150))
            hits = rng.binomial(n, right)
            mat[c, c], mat[c, (c + 1) % 6] = hits, n - hits
    return mats


def noisy_copy(mats: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same images, one pixel per class moved between right and wrong at random: no real difference."""
    out = mats.copy()
    for mat in out:
        for c in range(6):
            move = int(rng.integers(-1, 2))
            mat[c, c] += move
            mat[c, (c + 1) % 6] -= move
    return out


def fake_run(folder: Path, name: str, mious: list[float], boundary: float, interior: float,
             mats: np.ndarray) -> Run:
    """A finished run directory as ``fit`` leaves it, with made-up numbers."""
    path = folder / name
    path.mkdir()
    final = FinalScores(IDS, mats, 512, BandAccuracy(boundary, interior, 0.2))
    final.save(path / "final_scores.npz")
    scores = scores_from_matrix(mats.sum(0))
    history = [{"epoch": e + 1, "miou": m, "boundary_accuracy": boundary, "interior_accuracy": interior,
                "train_loss": 1.0} for e, m in enumerate(mious)]
    summary = {"data_source": "real", "weights": "none: from scratch", "epochs": len(mious),
               "final_miou": scores.miou, "final_iou": scores.per_class(), "scored_at_px": 512, "train_px": 64,
               "final_miou_at_train_px": mious[-1], "best_miou_at_train_px": max(mious),
               "best_epoch": int(np.argmax(mious)) + 1, "final_pixel_accuracy": scores.pixel_accuracy,
               "boundary_accuracy": boundary, "interior_accuracy": interior, "band_width_px": 8,
               "boundary_fraction": 0.2, "device": "cpu", "precision": "fp32", "train_images_per_second": 8.0,
               "wall_seconds": 600.0, "confusion": mats.sum(0).tolist()}
    config = {"optimizer": "adamw", "lr": 3e-4, "weight_decay": 1e-4, "schedule": "onecycle", "batch_size": 16,
              "augment": True, "class_weighting": "none", "seed": 0, "model": name}
    provenance = {"data_dir": "../shared/dlcv_p2_data", "data_source": "real", "train_pairs": 2000,
                  "val_pairs": len(IDS), "image_size": 64, "weights": "none: from scratch", "device": "cpu",
                  "precision": "fp32", "git_commit": "abc"}
    return Run(path, config, provenance, history, summary)


def test_a_clearly_better_fcn8s_is_called_real_with_its_interval(tmp_path):
    rng = np.random.default_rng(0)
    base = per_image(0.6, rng)
    runs = {"fcn32s": fake_run(tmp_path, "fcn32s", [0.3, 0.4], 0.60, 0.80, base),
            "fcn16s": fake_run(tmp_path, "fcn16s", [0.3, 0.5], 0.62, 0.82, noisy_copy(base, rng)),
            "fcn8s": fake_run(tmp_path, "fcn8s", [0.4, 0.6], 0.75, 0.86, per_image(0.9, rng))}
    table = analysis.results(runs)
    comparison = table["comparisons"]["fcn8s - fcn32s"]
    assert comparison["excludes_zero"] and comparison["ci95"][0] > 0.2
    assert comparison["delta"] == pytest.approx(table["models"]["fcn8s"]["final_miou"]
                                                - table["models"]["fcn32s"]["final_miou"], abs=1e-6)
    lo, hi = table["models"]["fcn8s"]["miou_ci95"]
    assert lo < table["models"]["fcn8s"]["final_miou"] < hi
    text = analysis.discussion(table, runs)
    assert "**FCN8s beats FCN32s**" in text and "The interval excludes 0, so the difference is real" in text
    assert "Why:" not in text and "Against FCN32s, FCN8s gains more at boundaries" in text
    assert not table["comparisons"]["fcn16s - fcn32s"]["excludes_zero"]
    assert "FCN16s (the pool4 skip only) against FCN32s" in text and "not shown to be real" in text
    assert "score map has 1x1 cell per image" in text and "at most 1 class-score vector per image" in text
    assert analysis.comparison_table(table).splitlines()[2].startswith(f"| fcn8s - fcn32s | {comparison['delta']:+.3f} |")
    assert analysis.miou_table(table["models"]).splitlines()[0].startswith("| model | mIoU at 512 px | 95% CI |")


def test_an_indistinguishable_fcn8s_is_not_called_better_and_the_reasons_are_given(tmp_path):
    rng = np.random.default_rng(1)
    base = per_image(0.7, rng)
    noisy = noisy_copy(base, rng)
    runs = {"fcn32s": fake_run(tmp_path, "fcn32s", [0.5, 0.6, 0.62], 0.70, 0.90, base),
            "fcn16s": fake_run(tmp_path, "fcn16s", [0.5, 0.58, 0.61], 0.70, 0.90, base),
            "fcn8s": fake_run(tmp_path, "fcn8s", [0.4, 0.5, 0.55, 0.56, 0.60], 0.69, 0.88, noisy)}
    table = analysis.results(runs)
    assert not table["comparisons"]["fcn8s - fcn32s"]["excludes_zero"]
    text = analysis.discussion(table, runs)
    assert "**FCN8s and FCN32s cannot be told apart**" in text and "includes 0, so the difference is not shown" in text
    assert "Why: FCN8s was still improving" in text and "trained from scratch" in text
    assert "not more accurate at boundaries either" in text and "beats" not in text


def test_a_worse_fcn8s_and_a_collapsed_model_are_reported_as_such(tmp_path):
    rng = np.random.default_rng(2)
    collapsed = np.zeros((len(IDS), 7, 7), dtype=np.int64)
    collapsed[:, :, 1] = 100  # everything predicted Agriculture
    runs = {"fcn32s": fake_run(tmp_path, "fcn32s", [0.5, 0.6], 0.70, 0.90, per_image(0.9, rng)),
            "fcn16s": fake_run(tmp_path, "fcn16s", [0.1, 0.1], 0.30, 0.40, collapsed),
            "fcn8s": fake_run(tmp_path, "fcn8s", [0.4, 0.5], 0.60, 0.85, per_image(0.6, rng))}
    table = analysis.results(runs)
    text = analysis.discussion(table, runs)
    assert "**FCN8s does not beat FCN32s**: FCN32s is better" in text and "lead is real" in text
    assert "fcn16s predicts Agriculture for 100.0% of the validation pixels" in text
    assert table["models"]["fcn16s"]["dominant_prediction"] == {"class": "Agriculture", "share": 1.0}
    assert table["bootstrap"]["resamples"] >= 1000 and CLASS_NAMES[1] == "Agriculture"


def test_no_resolution_caveat_where_fcn32s_has_a_fine_score_map(tmp_path):
    rng = np.random.default_rng(4)
    runs = {name: fake_run(tmp_path, name, [0.5], 0.7, 0.9, per_image(0.7, rng)) for name in analysis.REPORT_MODELS}
    for run in runs.values():
        run.summary["train_px"] = 512
    text = analysis.discussion(analysis.results(runs), runs)
    assert "Resolution:" not in text and "score map" not in text


def test_the_header_says_how_the_runs_were_trained_and_scored(tmp_path):
    rng = np.random.default_rng(5)
    runs = {name: fake_run(tmp_path, name, [0.5], 0.7, 0.9, per_image(0.7, rng)) for name in analysis.REPORT_MODELS}
    header, table = analysis.report_header(runs), analysis.header_table(runs)
    assert "**Data:** the real course data" in header and "**Backbone weights: none**" in header
    assert "trained at 64 px (the images resized), scored at 512 px" in header and "crops" not in header + table
    assert "| 64 px |" in table
    for run in runs.values():
        run.provenance.update(image_size=128, crop_size=64)
        run.summary["train_px"] = 128
    header, table = analysis.report_header(runs), analysis.header_table(runs)
    assert ("trained at 128 px (the images resized; each training step sees random 64 px crops of them, "
            "validation and scoring whole images), scored at 512 px") in header
    assert "| 128 px, 64 px crops |" in table


def test_models_scored_on_different_images_are_not_compared(tmp_path):
    rng = np.random.default_rng(3)
    runs = {name: fake_run(tmp_path, name, [0.5], 0.7, 0.9, per_image(0.7, rng)) for name in ("fcn32s", "fcn8s")}
    FinalScores(IDS[::-1], per_image(0.7, rng), 512, BandAccuracy(0.7, 0.9, 0.2)).save(
        tmp_path / "fcn8s" / "final_scores.npz")
    with pytest.raises(Exception, match="different validation images"):
        analysis.results(runs)
