"""The report's numbers and claims follow the runs, whichever way they come out: a clear win, a tie, a
loss, a collapsed model, coarse or fine score maps, undertrained or converged runs."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hw_lib import analysis, atomic, discussion, run_analysis, tables
from hw_lib.analysis import SCORED_NAMES
from hw_lib.colors import labels_to_rgb
from hw_lib.errors import ConfigError
from hw_lib.metrics import DistanceBin, FinalScores, scores_from_matrix
from hw_lib.run_analysis import RunAnalysis
from hw_lib.runs import ANALYSIS, FINAL_SCORES, Run, RunSummary, save_final_scores, snapshot_path
from hw_lib.tables import fmt

from .helpers import INTERNAL_WORDS, stated_difference_problems

IDS = [f"{i:04d}" for i in range(40)]
DATA = "../shared/dlcv_p2_data"  # only named: the fake runs are analysed already
TRAIN_PIXELS = [10, 60, 8, 9, 3, 10, 0]  # Agriculture is the training split's most frequent class


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


def collapsed(label: int = 1) -> np.ndarray:
    mats = np.zeros((len(IDS), 7, 7), dtype=np.int64)
    mats[:, :6, label] = 100
    return mats


def profile(near: float, far: float) -> list[DistanceBin]:
    accuracies = np.linspace(near, far, 5)
    return [DistanceBin(low, high, 0.2, float(a)) for (low, high), a in
            zip([(0, 2), (2, 4), (4, 8), (8, 16), (16, None)], accuracies)]


def fake_run(folder: Path, name: str, mious: list[float], mats: np.ndarray, boundary: tuple[float, float] = (0.6, 0.8),
             ablation: dict[str, float] | None = None, train_px: int = 64) -> Run:
    """A finished and analysed run directory as ``fit`` leaves it, with made-up numbers."""
    path = folder / name
    path.mkdir()
    save_final_scores(path / FINAL_SCORES, FinalScores(IDS, mats, 512))
    atomic.write_json(path / ANALYSIS, RunAnalysis(
        run_analysis.VERSION, "cpu", "fp32", scored_at_px=512, scored_images=len(IDS), miou_at_train_px=mious[-1],
        skip_ablation=ablation if ablation is not None else {}, boundary_profile=profile(*boundary)).to_dict())
    history = [{"epoch": e + 1, "miou": m, "train_loss": 1.0, "seconds": 300.0, "train_seconds": 250.0,
                "train_images": 2000} for e, m in enumerate(mious)]
    config = {"optimizer": "adamw", "lr": 3e-4, "backbone_lr_scale": 1.0, "weight_decay": 1e-4, "schedule": "onecycle",
              "batch_size": 16, "augment": True, "class_weighting": "none", "seed": 0, "model": name,
              "snapshot_epochs": [1, 2], "sample_ids": ["0008"], "crop_size": None, "data_dir": "../shared/dlcv_p2_data",
              "run_dir": str(path)}
    provenance = {"data_dir": "../shared/dlcv_p2_data", "data_source": "real", "train_pairs": 2000,
                  "val_pairs": len(IDS), "image_size": train_px, "weights": "none: VGG16 trained from scratch",
                  "device": "cpu (x86_64, 2 threads)", "precision": "fp32", "git_commit": "abc",
                  "train_class_pixels": TRAIN_PIXELS}
    return Run(path, config, provenance, history, RunSummary(name, len(mious)))


def results_of(runs: dict[str, Run]) -> analysis.Results:
    return analysis.results(runs, DATA)


FCN8S_SKIPS = {"pool3": 0.45, "pool4": 0.52, "pool4+pool3": 0.30}
FCN16S_SKIPS = {"pool4": 0.4}


def answer_and_evidence(results: analysis.Results) -> list[str]:
    """The discussion's paragraphs, after checking every difference it states against results.json."""
    document = json.loads(json.dumps(discussion.results_document(results)))
    assert stated_difference_problems(document) == []
    assert document["discussion"]["text"] == discussion.discussion(results)
    return document["discussion"]["text"].split("\n\n")


def stated_gains(paragraph: str) -> dict[str, float]:
    """``Water (+0.404)`` -> {"Water": 0.404}: the per-class gains a paragraph names, in its order."""
    return {c: float(v) for c, v in re.findall(r"(\w+) \(([+-]\d\.\d{3})\)", paragraph) if c in SCORED_NAMES}


def test_a_clearly_better_fcn8s_is_called_better_and_the_answer_comes_first(tmp_path):
    rng = np.random.default_rng(0)
    base = per_image(0.6, rng)
    runs = {"fcn32s": fake_run(tmp_path, "fcn32s", [0.3, 0.4], base, (0.50, 0.80)),
            "fcn16s": fake_run(tmp_path, "fcn16s", [0.3, 0.5], noisy_copy(base, rng), (0.55, 0.80), FCN16S_SKIPS),
            "fcn8s": fake_run(tmp_path, "fcn8s", [0.4, 0.6], per_image(0.9, rng), (0.75, 0.85), FCN8S_SKIPS)}
    results = results_of(runs)
    diff = results.comparisons["fcn8s - fcn32s"]
    assert diff.excludes_zero and diff.low > 0.2
    assert diff.value == pytest.approx(results.model("fcn8s").miou.value - results.model("fcn32s").miou.value, abs=1e-6)
    assert results.model("fcn8s").miou.low < results.model("fcn8s").miou.value < results.model("fcn8s").miou.high
    answer, verdict, *evidence = answer_and_evidence(results)
    # the answer: FCN8s wins, from the score-map cells at the training size (1x1 against 8x8 of 8 px) ...
    assert answer.startswith("**The answer.** FCN8s wins") and "1x1 map" in answer and "cells of 8 px" in answer
    # ... with the per-class gains above 0.01, largest first, each FCN8s's IoU minus FCN32s's
    fcn8s, fcn32s = results.model("fcn8s"), results.model("fcn32s")
    gains = {c: fcn8s.per_class_iou[c] - fcn32s.per_class_iou[c] for c in SCORED_NAMES}
    named = stated_gains(answer)
    assert list(named) == sorted((c for c in gains if gains[c] > 0.01), key=gains.get, reverse=True)
    assert all(named[c] == round(gains[c], 3) for c in named)
    assert "do not settle" in answer  # the skips' features against the output stride: not separated here
    assert "FCN8s beats FCN32s" in verdict and "not training randomness" in verdict and "collapsed" not in verdict
    text = "\n\n".join(evidence)
    assert "Its predictions rely on the skips" in text and "cannot separate" in text
    assert "**Boundaries:** not compared at this size" in text  # at 64 px one FCN32s cell is the whole image
    assert "undertrained" in text  # both models best at their last epoch
    assert not results.comparisons["fcn16s - fcn32s"].excludes_zero
    assert tables.comparison_table(results).splitlines()[2].startswith(f"| FCN8s - FCN32s | {diff.value:+.3f} |")
    assert tables.miou_table(results).splitlines()[0].startswith("| model | mIoU at 512 px | 95% interval |")


def test_the_majority_class_baseline_is_scored_like_the_models(tmp_path):
    rng = np.random.default_rng(6)
    runs = {name: fake_run(tmp_path, name, [0.5], per_image(0.7, rng)) for name in ("fcn32s", "fcn16s", "fcn8s")}
    results = results_of(runs)
    base = results.majority_baseline
    truth = run_analysis.current(runs["fcn32s"])[1].per_image.sum((0, 2))
    expected = scores_from_matrix(np.diag(np.zeros(7)) + np.outer(truth, np.eye(7)[1]))
    assert base.class_name == "Agriculture" and base.miou.value == pytest.approx(expected.miou, abs=1e-6)
    assert base.pixel_accuracy == pytest.approx(truth[1] / truth.sum(), abs=1e-6)
    assert "| Agriculture everywhere |" in tables.miou_table(results)
    floor = next(p for p in answer_and_evidence(results) if p.startswith("**The floor.**"))
    assert "Predicting Agriculture" in floor and fmt(base.miou.value) in floor


def test_an_indistinguishable_fcn8s_is_not_called_better_and_the_reasons_are_given(tmp_path):
    rng = np.random.default_rng(1)
    base = per_image(0.7, rng)
    runs = {"fcn32s": fake_run(tmp_path, "fcn32s", [0.5, 0.6, 0.62], base, (0.70, 0.90)),
            "fcn16s": fake_run(tmp_path, "fcn16s", [0.5, 0.58, 0.61], base, (0.70, 0.90), FCN16S_SKIPS),
            "fcn8s": fake_run(tmp_path, "fcn8s", [0.4, 0.5, 0.55, 0.56, 0.60], noisy_copy(base, rng), (0.69, 0.88),
                              {"pool3": 0.6, "pool4": 0.6, "pool4+pool3": 0.59})}
    answer, verdict, *evidence = answer_and_evidence(results_of(runs))
    assert "cannot be told apart" in answer and "wins" not in answer
    assert "still improving" in answer and "trained from scratch" in answer  # the reasons the runs support
    assert "cannot be told apart" in verdict and "the interval includes 0" in verdict and "beats" not in verdict
    assert "barely relies on its skips" in "\n".join(evidence)


def test_a_worse_fcn8s_and_a_collapsed_model_are_reported_as_such(tmp_path):
    rng = np.random.default_rng(2)
    runs = {"fcn32s": fake_run(tmp_path, "fcn32s", [0.5, 0.6], per_image(0.9, rng)),
            "fcn16s": fake_run(tmp_path, "fcn16s", [0.1, 0.1], collapsed(), ablation=FCN16S_SKIPS),
            "fcn8s": fake_run(tmp_path, "fcn8s", [0.4, 0.5], per_image(0.6, rng), ablation=FCN8S_SKIPS)}
    results = results_of(runs)
    answer, verdict, *evidence = answer_and_evidence(results)
    assert "does not beat FCN32s" in answer and "FCN32s is better" in verdict
    text = "\n".join(evidence)
    assert "Collapsed (one class for 95.0% of the pixels or more): FCN16s to Agriculture" in text
    assert results.model("fcn16s").most_predicted.name == "Agriculture"
    assert results.model("fcn16s").most_predicted.share == 1.0 and results.model("fcn16s").collapsed
    assert "FCN16s is no better than that" in text  # than predicting Agriculture everywhere


def test_a_win_over_a_collapsed_baseline_says_what_it_measures(tmp_path):
    rng = np.random.default_rng(3)
    runs = {"fcn32s": fake_run(tmp_path, "fcn32s", [0.1, 0.1], collapsed()),
            "fcn16s": fake_run(tmp_path, "fcn16s", [0.3, 0.5], per_image(0.8, rng), ablation=FCN16S_SKIPS),
            "fcn8s": fake_run(tmp_path, "fcn8s", [0.4, 0.6], per_image(0.9, rng), ablation=FCN8S_SKIPS)}
    answer, verdict, *_ = answer_and_evidence(results_of(runs))
    assert "FCN8s beats FCN32s" in verdict and "But FCN32s has collapsed: it gives Agriculture 100.0% of the pixels" in verdict
    # a collapsed FCN32s separates no class: every class is named as one it does not separate
    assert "separates only no class" not in answer and all(c in answer for c in SCORED_NAMES)


def test_no_resolution_caveat_and_no_undertraining_claim_where_they_do_not_hold(tmp_path):
    rng = np.random.default_rng(4)
    runs = {name: fake_run(tmp_path, name, [0.5, 0.6, 0.55], per_image(0.7, rng), train_px=512,
                           ablation={"fcn8s": FCN8S_SKIPS, "fcn16s": FCN16S_SKIPS}.get(name, {}))
            for name in ("fcn32s", "fcn16s", "fcn8s")}
    results = results_of(runs)
    text = "\n\n".join(answer_and_evidence(results))
    assert "one class-score vector for the whole image" not in text and "15x15 map" in text
    assert "undertrained" not in text and "FCN8s epoch 2 of 3" in text
    assert "| FCN32s | 15x15 | 15x15 |" in tables.geometry_table(results)


def test_boundary_claims_are_made_only_in_bands_one_coarse_cell_wide(tmp_path):
    rng = np.random.default_rng(11)
    wide = lambda near, far: [DistanceBin(0, 40, 0.3, near), DistanceBin(40, 80, 0.3, (near + far) / 2),  # noqa: E731
                              DistanceBin(80, None, 0.4, far)]
    runs = {name: fake_run(tmp_path, name, [0.5, 0.6], per_image(p, rng), train_px=512,
                           ablation={"fcn8s": FCN8S_SKIPS, "fcn16s": FCN16S_SKIPS}.get(name, {}))
            for name, p in (("fcn32s", 0.6), ("fcn16s", 0.7), ("fcn8s", 0.9))}
    for name, (near, far) in (("fcn32s", (0.5, 0.8)), ("fcn16s", (0.6, 0.8)), ("fcn8s", (0.8, 0.85))):
        stored = json.loads((runs[name].path / ANALYSIS).read_text())
        stored["boundary_profile"] = [dataclasses.asdict(b) for b in wide(near, far)]
        atomic.write_json(runs[name].path / ANALYSIS, stored)
    results = results_of(runs)  # FCN32s at 512 px: a 15x15 map, cells of 34 px; two bands of 40 px
    assert discussion.boundary_claims(results) and "boundaries" in discussion.evidence_tables(results)
    boundaries = next(p for p in answer_and_evidence(results) if p.startswith("**Boundaries**"))
    assert "+0.300" in boundaries and "+0.175" in boundaries  # 0.8 - 0.5 within 40 px, 0.825 - 0.65 at 41-80 px


def test_the_header_says_how_the_runs_were_trained_and_scored_and_sets_the_reference_beside_them(tmp_path):
    rng = np.random.default_rng(5)
    runs = {name: fake_run(tmp_path, name, [0.5], per_image(0.7, rng)) for name in ("fcn32s", "fcn16s", "fcn8s")}
    results = results_of(runs)
    header, runs_table = discussion.report_header(results), tables.runs_table(results)
    assert "**Data:** the course data" in header and "**Backbone weights:** none" in header
    assert "trained at 64 px" in header and "Scored at 512 px" in header and "crops" not in header + runs_table
    assert "FCN32s 0.670 and FCN8s 0.699" in header  # the reference's numbers
    assert ("no ImageNet weights (every layer starts random), a CPU instead of a GPU, 64 px training images instead "
            "of 256 and 1 epochs instead of 20") in header
    assert "| 64 px |" in runs_table and "| FCN32s |" in runs_table
    assert "the same for the three models" in header and "peak learning rate 3e-4" in header
    runs["fcn32s"].config["lr"] = 1e-4
    header = discussion.report_header(results_of(runs))
    assert "FCN32s 1e-4, FCN16s 3e-4 and FCN8s 3e-4" in header and "confounded" in header
    # the code's words only in the one paragraph that says how the report was made
    made = discussion.how_made(results, "runs/laptop-real")
    assert not INTERNAL_WORDS.search(header) and not INTERNAL_WORDS.search(discussion.discussion(results))
    assert made.startswith("**How this report was made.**") and "hw_lib.predict" in made and "runs/laptop-real" in made


def recorded_file(path: Path, rows: list[tuple[str, float, int, float, float | None]]) -> Path:
    """A recorded-runs file of the fake runs' recipe: (model, lr, seed, mIoU, top share) per run."""
    from hw_lib.recorded import recipe_of

    recipe = recipe_of(fake_run(path.parent, "recipe-probe", [0.5], collapsed()).config)
    runs = [{"model": m, "lr": lr, "seed": seed, "miou": v, "top_share": t, "precision": "fp32", "machine": "a CPU",
             "source": "made up"} for m, lr, seed, v, t in rows]
    atomic.write_json(path, {"recipe": recipe, "runs": runs})
    return path


def test_the_learning_rate_table_puts_each_model_at_the_common_and_at_its_best_lr(tmp_path):
    rng = np.random.default_rng(12)
    runs = {name: fake_run(tmp_path, name, [0.3, 0.4], per_image(p, rng), ablation={"fcn8s": FCN8S_SKIPS}.get(name, {}))
            for name, p in (("fcn32s", 0.4), ("fcn8s", 0.8))}
    common = {name: results_of(runs).model(name).miou.value for name in runs}  # seed 0 at 3e-4: the fake runs
    path = recorded_file(tmp_path / "recorded.json", [
        ("fcn32s", 3e-4, 1, common["fcn32s"] - 0.02, 0.85), ("fcn32s", 1e-3, 0, 0.05, 0.97),
        ("fcn32s", 1e-3, 1, 0.07, 0.95), ("fcn8s", 1e-3, 0, common["fcn8s"] + 0.05, None),
        ("fcn8s", 3e-4, 0, 0.999, None)])  # the report's own run wins over a recorded one of the same lr and seed
    results = analysis.results(runs, DATA, recorded_runs=path)
    rows = results.lr_rows
    assert [(r.lr, [x.seed for x in r.runs], r.common, r.best) for r in rows["fcn32s"]] == [
        (3e-4, [0, 1], True, True), (1e-3, [0, 1], False, False)]
    assert [(r.lr, r.common, r.best) for r in rows["fcn8s"]] == [(3e-4, True, False), (1e-3, False, True)]
    assert rows["fcn8s"][0].runs[0].miou == common["fcn8s"] and rows["fcn32s"][0].spread == pytest.approx(0.02)
    document = json.loads(json.dumps(discussion.results_document(results)))
    assert document["recorded"]["runs"][0]["source"] == "made up" and document["learning_rates"]["fcn8s"][1]["best"]
    paragraph = next(p for p in answer_and_evidence(results) if p.startswith("**The learning rate.**"))
    gap_common = rows["fcn8s"][0].mean - rows["fcn32s"][0].mean
    gap_best = rows["fcn8s"][1].mean - rows["fcn32s"][0].mean
    assert f"{gap_common:+.3f} at the common lr" in paragraph and f"{gap_best:+.3f} with each model at its own" in paragraph
    assert "1e-3 (97.0%)" in paragraph  # FCN32s over 90% on one class at 1e-3
    assert "FCN32s 0.020 (2 seeds)" in paragraph  # how far a seed moves FCN32s at the common lr
    table = tables.lr_table(results)
    assert "| FCN8s | 1e-3 (best) | 0 |" in table and "| FCN32s | 3e-4 (common, best) | 0, 1 |" in table


def test_recorded_runs_of_another_recipe_or_a_broken_file_are_refused_naming_the_file(tmp_path):
    rng = np.random.default_rng(13)
    runs = {name: fake_run(tmp_path, name, [0.4], per_image(0.7, rng)) for name in ("fcn32s", "fcn8s")}
    path = recorded_file(tmp_path / "recorded.json", [("fcn8s", 1e-3, 0, 0.4, None)])
    stored = json.loads(path.read_text())
    atomic.write_json(path, {**stored, "recipe": {**stored["recipe"], "epochs": 20}})
    with pytest.raises(ConfigError, match=r"recorded\.json: its runs' recipe differs from the report's runs in more "
                                          r"than lr and seed \(epochs: 20 there"):
        analysis.results(runs, DATA, recorded_runs=path)
    path.write_text('{"recipe": {}, "runs": [{"model": "fcn8s"}]}')
    with pytest.raises(ConfigError, match=r"recorded\.json: not a recorded-runs file"):
        analysis.results(runs, DATA, recorded_runs=path)


def test_models_scored_on_different_images_are_not_compared(tmp_path):
    rng = np.random.default_rng(3)
    runs = {name: fake_run(tmp_path, name, [0.5], per_image(0.7, rng)) for name in ("fcn32s", "fcn8s")}
    save_final_scores(tmp_path / "fcn8s" / "final_scores.npz", FinalScores(IDS[::-1], per_image(0.7, rng), 512))
    with pytest.raises(Exception, match="different validation images"):
        results_of(runs)


def write_masks(run: Run, data_dir: Path, truth: np.ndarray, predictions: dict[int, np.ndarray]) -> None:
    (data_dir / "validation").mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels_to_rgb(truth)).save(data_dir / "validation" / "0008_mask.png")
    for epoch, labels in predictions.items():
        path = snapshot_path(run.path, epoch, "0008")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels_to_rgb(labels)).save(path)


def model_of(run: Run) -> analysis.ModelResult:
    return results_of({run.model: run}).model(run.model)


def test_the_mask_caption_is_computed_from_the_masks_and_explains_a_fall_of_accuracy(tmp_path):
    rng = np.random.default_rng(7)
    run = fake_run(tmp_path, "fcn8s", [0.5, 0.6, 0.6], per_image(0.7, rng))
    run.config["snapshot_epochs"] = [1, 2, 3]
    truth = np.zeros((64, 64), dtype=np.uint8)
    truth[:, 32:] = 3
    middle, late = truth.copy(), truth.copy()
    middle[:8] = 1
    late[:24, 32:] = 5  # Barren painted on true Forest: accuracy falls from epoch 2 to 3
    write_masks(run, tmp_path / "data", truth, {1: np.full((64, 64), 1, np.uint8), 2: middle, 3: late})
    facts = analysis.mask_facts(run, tmp_path / "data")
    assert facts[0].classes == {1: 1, 2: 3, 3: 3} and facts[0].truth_classes == 2 and facts[0].side == 64
    assert facts[0].accuracy[2] == pytest.approx(1 - 8 * 64 / 64**2) and facts[0].changed == 1.0
    drop = facts[0].drops[0]
    assert (drop.epochs, drop.truth, drop.predicted) == ((2, 3), "Forest", "Barren")
    assert drop.share == pytest.approx((24 - 8) * 32 / 64**2)  # rows 8-23 of the Forest half turned wrong
    text = discussion.mask_caption(model_of(run), facts)
    assert "resized to 64 px" in text and "score map of 8x8 cells per image" in text and "near one colour" not in text
    assert "1 at epoch 1 and 3 at epoch 3 (in their ground truths 2)" in text
    assert "pixel accuracy goes from 0.00 to 0.81" in text
    assert "from 0.88 at epoch 2 to 0.81 at epoch 3" in text and "Forest predicted as Barren (12.5% of the image)" in text


def test_a_one_class_mask_table_says_so_and_why(tmp_path):
    run = fake_run(tmp_path, "fcn32s", [0.1, 0.1], collapsed())
    truth = np.zeros((64, 64), dtype=np.uint8)
    truth[:, 32:] = 3
    flat = np.full((64, 64), 1, np.uint8)
    write_masks(run, tmp_path / "data", truth, {1: flat, 2: flat})
    text = discussion.mask_caption(model_of(run), analysis.mask_facts(run, tmp_path / "data"))
    assert "Every predicted mask is a single class at every snapshot shown." in text and "0.0% of their pixels" in text
    assert "score map of 1x1 cell per image" in text and "near one colour" in text  # FCN32s at 64 px: one cell per image


def test_a_run_of_another_model_is_refused_where_one_is_asked_for(tmp_path):
    rng = np.random.default_rng(8)
    for name in ("fcn32s", "fcn16s"):
        run = fake_run(tmp_path, name, [0.5], per_image(0.7, rng))
        atomic.write_json(run.path / "config.json", {"config": run.config, "provenance": run.provenance})
        atomic.write_json(run.path / "summary.json", run.summary.to_dict())
    (tmp_path / "fcn32s").rename(tmp_path / "fcn8s")  # an FCN32s run where FCN8s should be
    with pytest.raises(ConfigError, match=r"fcn8s: holds a run of FCN32s, not of FCN8s; train FCN8s into it"):
        analysis.load_runs(tmp_path, models=("fcn16s", "fcn8s"))


def test_results_json_holds_the_run_s_facts_once_and_no_path_of_the_machine(tmp_path):
    rng = np.random.default_rng(9)
    runs = {name: fake_run(tmp_path, name, [0.4, 0.5], per_image(0.7, rng)) for name in ("fcn32s", "fcn8s")}
    stored = json.loads(json.dumps(results_of(runs).to_dict()))
    model = stored["models"]["fcn8s"]
    assert model["train_px"] == model["provenance"]["image_size"] == 64 and model["epochs"] == len(model["history"])
    assert model["per_class_iou"] == {k: round(v, 6) for k, v in scores_from_matrix(
        np.array(model["confusion"])).per_class().items()}
    assert "data_dir" not in model["config"] and "run_dir" not in model["config"] and "data_dir" not in model["provenance"]
    assert str(tmp_path) not in json.dumps(stored) and stored["data_dir"] == DATA


def test_a_stale_analysis_without_model_pt_is_kept_with_a_warning_and_a_missing_one_refused(tmp_path):
    run = fake_run(tmp_path, "fcn8s", [0.5], per_image(0.7, np.random.default_rng(10)))  # no model.pt, as from a GPU
    stored = json.loads((run.path / ANALYSIS).read_text())
    (run.path / ANALYSIS).write_text(json.dumps({**stored, "version": "0ld"}))
    lines: list[str] = []
    found, final = run_analysis.current(run, log=lines.append)
    assert found.version == "0ld" and final.per_image.shape == (len(IDS), 7, 7)
    assert lines == [f"warning: {run.path}: its analysis is of version 0ld, not {run_analysis.VERSION}, and without "
                     "model.pt it cannot be computed again; the stored one is used"]
    (run.path / ANALYSIS).unlink()
    with pytest.raises(ConfigError, match="no analysis and no model.pt to compute it from"):
        run_analysis.current(run)


def test_finished_runs_are_recorded_with_their_scores_and_provenance_and_another_recipe_refused(tmp_path):
    from hw_lib import recorded

    rng = np.random.default_rng(14)
    run = fake_run(tmp_path, "fcn8s", [0.4, 0.5], per_image(0.7, rng))
    atomic.write_json(run.path / "config.json", {"config": run.config, "provenance": run.provenance})
    atomic.write_json(run.path / "summary.json", run.summary.to_dict())
    path = tmp_path / "recorded.json"
    assert recorded.main([str(path), str(run.path), "--machine", "a CPU", "--source", "a probe"]) == 0
    entry = recorded.load(path).runs[0]
    final = run_analysis.current(run)[1]
    assert (entry.model, entry.lr, entry.seed, entry.precision) == ("fcn8s", 3e-4, 0, "fp32")
    assert entry.miou == round(final.scores.miou, 6) and entry.source.startswith("a probe; trained at commit abc")
    other = fake_run(tmp_path, "fcn32s", [0.4], per_image(0.7, rng))
    other.config["epochs"] = 20
    with pytest.raises(ConfigError, match=r"recorded\.json: its runs' recipe differs .* \(epochs: None there, 20 here"):
        recorded.add(path, [other], "a CPU", "a probe")
