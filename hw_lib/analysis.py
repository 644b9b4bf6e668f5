"""The numbers the report states, computed from run directories only (the report never retrains).

:func:`results` gathers what each run used and scored, a majority-class baseline, the paired
bootstrap comparisons and the seed's reference numbers into one :class:`Results` (written as
``results.json``); :func:`mask_facts` reads the snapshot masks of a run's mask table.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import bootstrap
from .bootstrap import Interval
from .colors import CLASS_NAMES, NUM_CLASSES, SCORED_CLASSES, rgb_to_labels
from .data import MASK_SUFFIX, VALIDATION, read_mask_rgb, resize_labels
from .errors import ConfigError
from .metrics import (
    COLLAPSE_SHARE,
    ClassShare,
    DistanceBin,
    FinalScores,
    constant_prediction,
    most_predicted,
    scores_from_matrix,
)
from .models import DISPLAY_NAMES, MODELS, model_class
from .paths import display_path
from .runs import Run

SCORED_NAMES = [CLASS_NAMES[c] for c in SCORED_CLASSES]
#: the homework write-up this project reproduces (../shared/seed): validation mIoU, and how it was made
SEED_MIOU = {"fcn32s": 0.670, "fcn8s": 0.699}
SEED_SETTING = {"weights": "imagenet", "device": "a GPU", "train_px": 512, "scored_at_px": 512, "epochs": 20}
BASELINE, IMPROVED = "fcn32s", "fcn8s"


def _rounded(interval: Interval) -> Interval:
    """An interval with its three numbers rounded to 6 digits, as results.json keeps them."""
    return Interval(round(interval.value, 6), round(interval.low, 6), round(interval.high, 6))


@dataclass(frozen=True)
class ModelResult:
    """What one run used and what it scored (``miou``: at the masks' own size, with its interval)."""

    name: str
    data_source: str
    data_dir: str
    weights: str
    train_pairs: int
    val_pairs: int
    train_px: int
    crop_px: int | None
    scored_at_px: int
    epochs: int
    recipe: dict[str, Any]
    miou: Interval
    per_class_iou: dict[str, float | None]
    pixel_accuracy: float
    miou_at_train_px: float | None
    best_miou_at_train_px: float | None
    best_epoch: int
    epochs_to_90pct_of_best: int | None
    most_predicted: ClassShare
    predicted_share: dict[str, float]  # share of the scored validation pixels given to each class
    score_map_at_train_px: int
    score_map_at_scored_px: int
    boundary_profile: list[DistanceBin]
    skip_ablation: dict[str, float | None]
    device: str
    precision: str
    train_images_per_second: float
    wall_seconds: float
    git_commit: str

    @property
    def display_name(self) -> str:
        return DISPLAY_NAMES[self.name]

    @property
    def collapsed(self) -> bool:
        return self.most_predicted.share >= COLLAPSE_SHARE


@dataclass(frozen=True)
class Baseline:
    """Predicting one class everywhere: the training split's most frequent class, scored like the models."""

    class_name: str
    miou: Interval
    pixel_accuracy: float


@dataclass(frozen=True)
class Results:
    """Everything ``results.json`` holds."""

    models: dict[str, ModelResult]
    majority_baseline: Baseline
    truth_share: dict[str, float]  # ground-truth share of each class in the scored validation pixels
    comparisons: dict[str, Interval]  # "fcn8s - fcn32s": paired bootstrap difference of mIoU
    seed: dict[str, Any]
    bootstrap: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model(self, name: str) -> ModelResult:
        return self.models[name]


def epochs_to_reach(run: Run, fraction: float = 0.9) -> int | None:
    """First epoch whose validation mIoU (at the training size) reaches ``fraction`` of the run's best."""
    best = run.summary.best_miou_at_train_px
    for row in run.history:
        if row["miou"] is not None and best is not None and row["miou"] >= fraction * best:
            return row["epoch"]
    return None


def model_result(run: Run, final: FinalScores) -> ModelResult:
    """What one run used (data, weights, recipe, device) and what it scored."""
    summary, config, provenance = run.summary, run.config, run.provenance
    fcn, confusion = model_class(run.model), np.array(summary.confusion, dtype=np.float64)
    return ModelResult(
        name=run.model, data_source=summary.data_source, data_dir=display_path(provenance["data_dir"]),
        weights=summary.weights,
        train_pairs=provenance["train_pairs"], val_pairs=provenance["val_pairs"], train_px=summary.train_px,
        crop_px=provenance.get("crop_size"), scored_at_px=summary.scored_at_px, epochs=summary.epochs,
        recipe={k: config.get(k) for k in ("optimizer", "lr", "backbone_lr_scale", "weight_decay", "schedule",
                                           "batch_size", "augment", "class_weighting", "seed")},
        miou=_rounded(bootstrap.miou_interval(final.per_image)), per_class_iou=summary.final_iou,
        pixel_accuracy=summary.final_pixel_accuracy, miou_at_train_px=summary.final_miou_at_train_px,
        best_miou_at_train_px=summary.best_miou_at_train_px, best_epoch=summary.best_epoch,
        epochs_to_90pct_of_best=epochs_to_reach(run), most_predicted=most_predicted(confusion),
        predicted_share=_shares(confusion.sum(0)),
        score_map_at_train_px=fcn.score_map_side(summary.train_px),
        score_map_at_scored_px=fcn.score_map_side(summary.scored_at_px),
        boundary_profile=summary.boundary_profile, skip_ablation=summary.skip_ablation, device=summary.device,
        precision=summary.precision, train_images_per_second=summary.train_images_per_second,
        wall_seconds=summary.wall_seconds, git_commit=provenance["git_commit"])


def _shares(pixels: np.ndarray) -> dict[str, float]:
    """Pixels per class as shares, by class name."""
    return {CLASS_NAMES[c]: round(float(pixels[c] / pixels.sum()), 6) for c in range(NUM_CLASSES)}


def majority_baseline(runs: dict[str, Run], finals: dict[str, FinalScores]) -> Baseline:
    """The training split's most frequent class predicted for every validation pixel, scored at the
    masks' own size with its bootstrap interval (the same images as the models)."""
    first = next(iter(runs))
    label = int(np.argmax(runs[first].summary.train_class_pixels))
    per_image = constant_prediction(finals[first].per_image, label)
    scores = scores_from_matrix(per_image.sum(0))
    interval = _rounded(bootstrap.miou_interval(per_image))
    return Baseline(CLASS_NAMES[label], interval, round(scores.pixel_accuracy, 6))


def comparisons(finals: dict[str, FinalScores]) -> dict[str, Interval]:
    """Paired bootstrap differences of the finer models against FCN32s, on the same validation images."""
    out = {}
    for name in (IMPROVED, "fcn16s"):
        if name not in finals or BASELINE not in finals:
            continue
        if finals[name].ids != finals[BASELINE].ids:
            raise ConfigError(f"{name} and {BASELINE} were scored on different validation images; "
                              "retrain on the same data")
        out[f"{name} - {BASELINE}"] = _rounded(
            bootstrap.paired_difference(finals[name].per_image, finals[BASELINE].per_image))
    return out


def results(runs: dict[str, Run]) -> Results:
    """Per model what ran and what it scored, the majority baseline, the paired comparisons, the seed's numbers."""
    finals = {name: run.final_scores() for name, run in runs.items()}
    return Results(
        models={name: model_result(run, finals[name]) for name, run in runs.items()},
        majority_baseline=majority_baseline(runs, finals),
        truth_share=_shares(next(iter(finals.values())).per_image.sum((0, 2)).astype(np.float64)),
        comparisons=comparisons(finals),
        seed={"miou": SEED_MIOU, **SEED_SETTING, "source": "the homework write-up (Table 3)"},
        bootstrap={"resamples": bootstrap.RESAMPLES, "seed": bootstrap.SEED, "level": bootstrap.LEVEL,
                   "unit": "validation image", "interval": "percentile",
                   "statistic": "course mIoU of the pooled confusion matrix of each resample",
                   "covers": "the choice of validation images; not training randomness (one seed per model)"})


def load_runs(runs_dir: str | Path, models: tuple[str, ...] = tuple(MODELS)) -> dict[str, Run]:
    """The finished run of each model under ``runs_dir``; a clear error for any that is missing."""
    runs = {}
    for name in models:
        path = Path(runs_dir) / name
        if not path.is_dir():
            raise ConfigError(f"{path}: no run of {DISPLAY_NAMES[name]} there; train it first (./run_all.sh, or "
                              "notebooks/train.ipynb with that run_dir)")
        runs[name] = Run.load(path)
    unfinished = [str(run.path) for run in runs.values() if not run.finished]
    if unfinished:
        raise ConfigError(f"unfinished runs (train them first): {', '.join(unfinished)}")
    return runs


@dataclass(frozen=True)
class MaskFacts:
    """One sample image's predicted masks in a run's mask table, against its ground truth."""

    sample_id: str
    truth_classes: int
    classes: dict[int, int]  # epoch -> how many classes the predicted mask holds
    accuracy: dict[int, float]  # epoch -> pixel accuracy against the ground truth, at the prediction's size
    changed: float  # share of pixels whose class differs between the first and the last snapshot


def mask_facts(run: Run, data_dir: str | Path) -> list[MaskFacts]:
    """What the snapshot masks of ``run`` show, computed from the mask files."""
    epochs, facts = run.config["snapshot_epochs"], []
    for sample_id in run.config["sample_ids"]:
        masks = {e: rgb_to_labels(read_mask_rgb(run.snapshot(e, sample_id))) for e in epochs}
        side = masks[epochs[0]].shape[0]
        truth = resize_labels(rgb_to_labels(read_mask_rgb(Path(data_dir) / VALIDATION / f"{sample_id}{MASK_SUFFIX}")),
                               side)
        facts.append(MaskFacts(
            sample_id, len(np.unique(truth)), {e: len(np.unique(m)) for e, m in masks.items()},
            {e: float((m == truth).mean()) for e, m in masks.items()},
            float((masks[epochs[0]] != masks[epochs[-1]]).mean())))
    return facts
