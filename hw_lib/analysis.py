"""The numbers the report states, computed from run directories only (the report never retrains).

:func:`results` gathers what each run used and scored, a majority-class baseline, the paired
bootstrap comparisons and the reference's numbers into one :class:`Results` (written as
``results.json``); :func:`mask_facts` reads the snapshot masks of a run's mask table.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import bootstrap, recorded, run_analysis
from .bootstrap import Interval
from .colors import CLASS_NAMES, NUM_CLASSES, SCORED_CLASSES, rgb_to_labels
from .config import EXECUTION_DETAILS
from .data import MASK_SUFFIX, VALIDATION, read_mask_rgb, resize_labels
from .errors import ConfigError
from .metrics import (
    COLLAPSE_SHARE,
    ClassShare,
    DistanceBin,
    FinalScores,
    Scores,
    constant_prediction,
    most_predicted,
    scores_from_matrix,
)
from .models import DISPLAY_NAMES, MODELS, model_class
from .paths import display_path
from .recorded import LrRow, RecordedRun, RecordedRuns
from .run_analysis import Log, RunAnalysis
from .runs import Run

SCORED_NAMES = [CLASS_NAMES[c] for c in SCORED_CLASSES]
#: the homework write-up this project reproduces ("the reference"): its validation mIoU, and how it was made.
#: Its numbers are those of thtang/DLCV2018SPRING hw3 (README: FCN32s 0.6709, FCN8s 0.6999), whose code
#: (hw3/fcn32_inference.py, hw3/train.ipynb) takes every second pixel of the 512 px images, scales them by
#: 1/255, fine-tunes torchvision's ImageNet VGG16 with Adam 2e-4 at batch 64 on a GPU and brings its 256 px
#: predictions back to 512 px by nearest neighbour; the write-up's mask table names epochs 1, 10 and 20.
REFERENCE_MIOU = {"fcn32s": 0.670, "fcn8s": 0.699}
REFERENCE_SETTING = {"weights": "imagenet", "device": "a GPU", "train_px": 256, "scored_at_px": 512, "epochs": 20,
                     "input_scaling": "pixel / 255", "optimizer": "Adam 2e-4, batch 64",
                     "source": "the homework write-up (its Table 3 and mask table), whose numbers and code are "
                               "thtang/DLCV2018SPRING hw3"}
BASELINE, IMPROVED = "fcn32s", "fcn8s"


def _rounded(interval: Interval) -> Interval:
    """An interval with its three numbers rounded to 6 digits, as results.json keeps them."""
    return Interval(round(interval.value, 6), round(interval.low, 6), round(interval.high, 6))


#: the recipe settings the report names
RECIPE = ("optimizer", "lr", "backbone_lr_scale", "weight_decay", "schedule", "batch_size", "augment",
          "class_weighting", "seed")


@dataclass(frozen=True)
class ModelResult:
    """One model's run as the report sees it: the run (config, provenance, per-epoch metrics), its
    analysis and final confusion matrix, and the interval of its final mIoU. Every other fact is a
    property derived from these, so each has one source."""

    run: Run
    analysis: RunAnalysis
    confusion: np.ndarray  # (C, C) of the final model at the masks' own size, summed over the images
    miou: Interval  # at the masks' own size, with its bootstrap interval

    @property
    def name(self) -> str:
        return self.run.model

    @property
    def display_name(self) -> str:
        return DISPLAY_NAMES[self.name]

    @property
    def provenance(self) -> dict[str, Any]:
        return self.run.provenance

    @property
    def data_source(self) -> str:
        return self.provenance["data_source"]

    @property
    def weights(self) -> str:
        return self.provenance["weights"]

    @property
    def device(self) -> str:
        return self.provenance["device"]

    @property
    def precision(self) -> str:
        return self.run.precision

    @property
    def git_commit(self) -> str:
        return self.provenance["git_commit"]

    @property
    def train_pairs(self) -> int:
        return self.provenance["train_pairs"]

    @property
    def val_pairs(self) -> int:
        return self.provenance["val_pairs"]

    @property
    def train_px(self) -> int:
        return self.run.train_px

    @property
    def crop_px(self) -> int | None:
        return self.run.config["crop_size"]

    @property
    def scored_at_px(self) -> int:
        return self.analysis.scored_at_px

    @property
    def epochs(self) -> int:
        return len(self.run.history)

    @property
    def recipe(self) -> dict[str, Any]:
        return {k: self.run.config[k] for k in RECIPE}

    @property
    def scores(self) -> Scores:
        return scores_from_matrix(self.confusion)

    @property
    def per_class_iou(self) -> dict[str, float | None]:
        return {c: None if v is None else round(v, 6) for c, v in self.scores.per_class().items()}

    @property
    def pixel_accuracy(self) -> float:
        return round(self.scores.pixel_accuracy, 6)

    @property
    def miou_at_train_px(self) -> float | None:
        """The final model's validation mIoU at the training size, with all its skips."""
        return self.analysis.miou_at_train_px

    @property
    def best_miou_at_train_px(self) -> float | None:
        return self.run.best["miou"]

    @property
    def best_epoch(self) -> int:
        return self.run.best["epoch"]

    @property
    def epochs_to_90pct_of_best(self) -> int | None:
        return epochs_to_reach(self.run)

    @property
    def most_predicted(self) -> ClassShare:
        return most_predicted(self.confusion)

    @property
    def collapsed(self) -> bool:
        return self.most_predicted.share >= COLLAPSE_SHARE

    @property
    def predicted_share(self) -> dict[str, float]:
        """Share of the scored validation pixels given to each class."""
        return _shares(self.confusion.sum(0))

    @property
    def score_map_at_train_px(self) -> int:
        return model_class(self.name).score_map_side(self.train_px)

    @property
    def score_map_at_scored_px(self) -> int:
        return model_class(self.name).score_map_side(self.scored_at_px)

    @property
    def boundary_profile(self) -> list[DistanceBin]:
        return self.analysis.boundary_profile

    @property
    def skip_ablation(self) -> dict[str, float | None]:
        return self.analysis.skip_ablation

    @property
    def wall_seconds(self) -> float:
        return self.run.wall_seconds

    @property
    def train_images_per_second(self) -> float:
        return self.run.train_images_per_second

    def to_dict(self) -> dict[str, Any]:
        """The run's stored facts (its config without paths, its provenance without the data folder, which
        the report names as it was given, the per-epoch metrics, the analysis) and what is derived from them."""
        config = {k: v for k, v in self.run.config.items() if k not in EXECUTION_DETAILS}
        provenance = {k: v for k, v in self.provenance.items() if k != "data_dir"}
        derived = {name: _plain(getattr(self, name)) for name in DERIVED}
        return {"name": self.name, "miou": dataclasses.asdict(self.miou), **derived, "config": config,
                "provenance": provenance, "history": self.run.history, "analysis": self.analysis.to_dict(),
                "confusion": self.confusion.astype(int).tolist()}


#: the derived facts results.json lists for each model beside the stored ones
DERIVED = ("data_source", "weights", "train_pairs", "val_pairs", "train_px", "crop_px", "scored_at_px", "epochs",
           "recipe", "per_class_iou", "pixel_accuracy", "miou_at_train_px", "best_miou_at_train_px", "best_epoch",
           "epochs_to_90pct_of_best", "most_predicted", "collapsed", "predicted_share", "score_map_at_train_px",
           "score_map_at_scored_px", "device", "precision", "train_images_per_second", "wall_seconds", "git_commit")


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses as dicts, inside dicts too (a ModelResult has its own ``to_dict``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not isinstance(v, ModelResult)}
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


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
    reference: dict[str, Any]
    bootstrap: dict[str, Any]
    data_dir: str  # the data folder the report was given, as a reader can use it
    recorded: RecordedRuns | None = None  # runs of the same recipe at other peak lrs and seeds (an input file)

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        lr_rows = {name: [{"lr": row.lr, "seeds": [r.seed for r in row.runs], "mious": [r.miou for r in row.runs],
                           "mean": round(row.mean, 6), "spread": round(row.spread, 6), "common": row.common,
                           "best": row.best} for row in rows] for name, rows in self.lr_rows.items()}
        return {**_plain(values), "models": {name: m.to_dict() for name, m in self.models.items()},
                "learning_rates": lr_rows}

    def model(self, name: str) -> ModelResult:
        return self.models[name]

    @property
    def lr_rows(self) -> dict[str, list[LrRow]]:
        """Per model, its runs by peak lr and seed: this report's and the recorded ones (empty without them)."""
        if self.recorded is None:
            return {}
        ours = [RecordedRun(m.name, m.recipe["lr"], m.recipe["seed"], m.miou.value, m.most_predicted.share,
                            m.precision, m.device, "this report") for m in self.models.values()]
        common = {m.recipe["lr"] for m in self.models.values()}
        return recorded.lr_rows(recorded.merged(ours, self.recorded.runs), common.pop() if len(common) == 1 else -1)


def epochs_to_reach(run: Run, fraction: float = 0.9) -> int | None:
    """First epoch whose validation mIoU (at the training size) reaches ``fraction`` of the run's best."""
    best = run.best["miou"]
    for row in run.history:
        if row["miou"] is not None and best is not None and row["miou"] >= fraction * best:
            return row["epoch"]
    return None


def model_result(run: Run, analysis: RunAnalysis, final: FinalScores) -> ModelResult:
    """What one run used and scored, from the run and its analysis."""
    return ModelResult(run, analysis, final.per_image.sum(0), _rounded(bootstrap.miou_interval(final.per_image)))


def _shares(pixels: np.ndarray) -> dict[str, float]:
    """Pixels per class as shares, by class name."""
    return {CLASS_NAMES[c]: round(float(pixels[c] / pixels.sum()), 6) for c in range(NUM_CLASSES)}


def majority_baseline(runs: dict[str, Run], finals: dict[str, FinalScores]) -> Baseline:
    """The training split's most frequent class predicted for every validation pixel, scored at the
    masks' own size with its bootstrap interval (the same images as the models)."""
    first = next(iter(runs))
    label = int(np.argmax(runs[first].provenance["train_class_pixels"]))
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


def results(runs: dict[str, Run], data_dir: str | Path, log: Log = print,
            recorded_runs: str | Path | None = None) -> Results:
    """Per model what ran and what it scored, the majority baseline, the paired comparisons, the reference's
    numbers, and the runs recorded in ``recorded_runs`` (same recipe, other peak lrs and seeds). Each run's
    analysis is computed where it is missing or stale (:func:`run_analysis.current`) from the data in
    ``data_dir``, which must be the data the runs were trained on."""
    found = recorded.load(recorded_runs) if recorded_runs else None
    for run in runs.values() if found is not None else ():
        recorded.check_recipe(found, run.config)
    analysed = {name: run_analysis.current(run, data_dir, log=log) for name, run in runs.items()}
    finals = {name: final for name, (_, final) in analysed.items()}
    return Results(
        models={name: model_result(runs[name], *analysed[name]) for name in runs},
        majority_baseline=majority_baseline(runs, finals),
        truth_share=_shares(next(iter(finals.values())).per_image.sum((0, 2)).astype(np.float64)),
        comparisons=comparisons(finals),
        reference={"miou": REFERENCE_MIOU, **REFERENCE_SETTING},
        bootstrap={"resamples": bootstrap.RESAMPLES, "seed": bootstrap.SEED, "level": bootstrap.LEVEL,
                   "unit": "validation image", "interval": "percentile",
                   "statistic": "course mIoU of the pooled confusion matrix of each resample",
                   "covers": "the choice of validation images; not training randomness (one seed per model)"},
        data_dir=display_path(data_dir), recorded=found)


def load_runs(runs_dir: str | Path, models: tuple[str, ...] = tuple(MODELS)) -> dict[str, Run]:
    """The finished run of each model under ``runs_dir``; a clear error for any that is missing."""
    runs = {}
    for name in models:
        path = Path(runs_dir) / name
        if not path.is_dir():
            raise ConfigError(f"{path}: no run of {DISPLAY_NAMES[name]} there; train it first (./run_all.sh, or "
                              "notebooks/train.ipynb with that run_dir)")
        runs[name] = Run.load(path)
        if runs[name].model != name:
            found = DISPLAY_NAMES[runs[name].model]
            raise ConfigError(f"{path}: holds a run of {found}, not of {DISPLAY_NAMES[name]}; train "
                              f"{DISPLAY_NAMES[name]} into it (run_dir) or move the folder")
    unfinished = [str(run.path) for run in runs.values() if not run.finished]
    if unfinished:
        raise ConfigError(f"unfinished runs (train them first): {', '.join(unfinished)}")
    return runs


@dataclass(frozen=True)
class AccuracyDrop:
    """Between two snapshots, a sample's accuracy fell: which class took the pixels that turned wrong."""

    epochs: tuple[int, int]
    accuracy: tuple[float, float]
    truth: str  # the true class of most of the pixels that turned wrong
    predicted: str  # the class they were given instead
    share: float  # those pixels' share of the image


@dataclass(frozen=True)
class MaskFacts:
    """One sample image's predicted masks in a run's mask table, against its ground truth."""

    sample_id: str
    side: int  # the masks' side: the size the model was fed
    truth_classes: int
    classes: dict[int, int]  # epoch -> how many classes the predicted mask holds
    accuracy: dict[int, float]  # epoch -> pixel accuracy against the ground truth, at the prediction's size
    changed: float  # share of pixels whose class differs between the first and the last snapshot
    drops: list[AccuracyDrop]  # each fall of accuracy by DROP or more between consecutive snapshots


#: a fall of a sample's accuracy between snapshots that the caption explains
DROP = 0.02


def _drops(truth: np.ndarray, masks: dict[int, np.ndarray]) -> list[AccuracyDrop]:
    epochs, out = sorted(masks), []
    for before, after in zip(epochs, epochs[1:]):
        right, now = masks[before] == truth, masks[after] == truth
        accuracy = float(right.mean()), float(now.mean())
        if accuracy[0] - accuracy[1] < DROP:
            continue
        turned = right & ~now
        pairs = truth[turned].astype(np.int64) * NUM_CLASSES + masks[after][turned]
        t, p = divmod(int(np.bincount(pairs).argmax()), NUM_CLASSES)
        share = float((turned & (truth == t) & (masks[after] == p)).mean())
        out.append(AccuracyDrop((before, after), accuracy, CLASS_NAMES[t], CLASS_NAMES[p], share))
    return out


def mask_facts(run: Run, data_dir: str | Path) -> list[MaskFacts]:
    """What the snapshot masks of ``run`` show, computed from the mask files."""
    epochs, facts = run.config["snapshot_epochs"], []
    for sample_id in run.config["sample_ids"]:
        masks = {e: rgb_to_labels(read_mask_rgb(run.snapshot(e, sample_id))) for e in epochs}
        side = masks[epochs[0]].shape[0]
        truth = resize_labels(rgb_to_labels(read_mask_rgb(Path(data_dir) / VALIDATION / f"{sample_id}{MASK_SUFFIX}")),
                               side)
        facts.append(MaskFacts(
            sample_id, side, len(np.unique(truth)), {e: len(np.unique(m)) for e, m in masks.items()},
            {e: float((m == truth).mean()) for e, m in masks.items()},
            float((masks[epochs[0]] != masks[epochs[-1]]).mean()), _drops(truth, masks)))
    return facts
