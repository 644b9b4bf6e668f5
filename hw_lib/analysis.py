"""Numbers the report states, computed from run directories only (the report never retrains)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import bootstrap
from .colors import CLASS_NAMES, SCORED_CLASSES
from .errors import ConfigError
from .metrics import FinalScores
from .models import score_map_side
from .runs import Run

SCORED_NAMES = [CLASS_NAMES[c] for c in SCORED_CLASSES]
#: the models the report compares, in its order
REPORT_MODELS = ("fcn32s", "fcn16s", "fcn8s")
#: a model that gives one class to this share of the pixels has collapsed to it
COLLAPSED = 0.98
#: FCN32s score maps of at most this side (trained at <= 128 px) are coarse enough to say so
COARSE_SCORE_MAP = 3


def epochs_to_reach(run: Run, fraction: float = 0.9) -> int | None:
    """First epoch whose validation mIoU (at the training size) reaches ``fraction`` of the run's best."""
    best = run.summary["best_miou_at_train_px"]
    for row in run.history:
        if row["miou"] is not None and best is not None and row["miou"] >= fraction * best:
            return row["epoch"]
    return None


def dominant_prediction(run: Run) -> tuple[str, float]:
    """The class the final model predicts most, and its share of all predicted pixels."""
    mat = np.array(run.summary["confusion"], dtype=float)
    predicted = mat.sum(0)
    top = int(predicted.argmax())
    return CLASS_NAMES[top], float(predicted[top] / predicted.sum())


def still_improving(run: Run, window: int = 3) -> bool:
    """True when the best mIoU of the last ``window`` epochs beats everything before them."""
    values = [r["miou"] or 0.0 for r in run.history]
    return len(values) > window and max(values[-window:]) > max(values[:-window])


def model_results(run: Run, final: FinalScores) -> dict[str, Any]:
    """What one run used (data, weights, recipe, device) and what it scored."""
    s, c = run.summary, run.config
    interval = bootstrap.miou_interval(final.per_image)
    return {
        "data_source": s["data_source"], "data_dir": run.provenance["data_dir"], "weights": s["weights"],
        "train_pairs": run.provenance["train_pairs"], "val_pairs": run.provenance["val_pairs"],
        "train_px": s["train_px"], "epochs": s["epochs"],
        "recipe": {k: c[k] for k in ("optimizer", "lr", "weight_decay", "schedule", "batch_size", "augment",
                                      "class_weighting", "seed")},
        "scored_at_px": s["scored_at_px"], "final_miou": s["final_miou"], "miou_ci95": interval.to_list(),
        "per_class_iou": s["final_iou"], "pixel_accuracy": s["final_pixel_accuracy"],
        "boundary_accuracy": s["boundary_accuracy"], "interior_accuracy": s["interior_accuracy"],
        "band_width_px": s["band_width_px"], "final_miou_at_train_px": s["final_miou_at_train_px"],
        "best_miou_at_train_px": s["best_miou_at_train_px"], "best_epoch": s["best_epoch"],
        "epochs_to_90pct_of_best": epochs_to_reach(run),
        "dominant_prediction": dict(zip(("class", "share"), dominant_prediction(run))),
        "device": s["device"], "precision": s["precision"],
        "train_images_per_second": s["train_images_per_second"], "wall_seconds": s["wall_seconds"],
        "git_commit": run.provenance["git_commit"],
    }


def comparisons(finals: dict[str, FinalScores]) -> dict[str, dict[str, Any]]:
    """Paired bootstrap differences of the finer models against FCN32s, on the same validation images."""
    out = {}
    for name in ("fcn8s", "fcn16s"):
        if name not in finals or "fcn32s" not in finals:
            continue
        if finals[name].ids != finals["fcn32s"].ids:
            raise ConfigError(f"{name} and fcn32s were scored on different validation images; retrain on the same data")
        diff = bootstrap.paired_difference(finals[name].per_image, finals["fcn32s"].per_image)
        out[f"{name} - fcn32s"] = {"delta": round(diff.value, 6), "ci95": diff.to_list(),
                                   "excludes_zero": diff.excludes_zero}
    return out


def results(runs: dict[str, Run]) -> dict[str, Any]:
    """``results.json``: per model what ran and what it scored, the paired comparisons, the bootstrap's settings."""
    finals = {name: run.final_scores() for name, run in runs.items()}
    return {
        "models": {name: model_results(run, finals[name]) for name, run in runs.items()},
        "comparisons": comparisons(finals),
        "bootstrap": {"resamples": bootstrap.RESAMPLES, "seed": bootstrap.SEED, "level": bootstrap.LEVEL,
                      "unit": "validation image", "interval": "percentile",
                      "statistic": "course mIoU of the pooled confusion matrix of each resample"},
    }


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def ci_text(interval: list[float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def miou_table(models: dict[str, dict[str, Any]]) -> str:
    """Final mIoU at the masks' size with its interval, the per-epoch figures at the training size, accuracies."""
    first = next(iter(models.values()))
    scored, train = first["scored_at_px"], first["train_px"]
    header = ["model", f"mIoU at {scored} px", "95% CI", f"at {train} px: final", "best (epoch)", "pixel accuracy",
              "boundary accuracy", "interior accuracy"]
    rows = [[name, fmt(r["final_miou"]), ci_text(r["miou_ci95"]), fmt(r["final_miou_at_train_px"]),
             f"{fmt(r['best_miou_at_train_px'])} ({r['best_epoch']})", fmt(r["pixel_accuracy"]),
             fmt(r["boundary_accuracy"]), fmt(r["interior_accuracy"])] for name, r in models.items()]
    return markdown_table(header, rows)


def comparison_table(table: dict[str, Any]) -> str:
    """The paired differences with their intervals."""
    rows = [[pair, f"{c['delta']:+.3f}", ci_text(c["ci95"]), "yes" if c["excludes_zero"] else "no"]
            for pair, c in table["comparisons"].items()]
    return markdown_table(["difference of mIoU", "value", "95% CI (paired bootstrap)", "interval excludes 0"], rows)


def class_iou_table(models: dict[str, dict[str, Any]]) -> str:
    """Final per-class IoU, one row per model."""
    rows = [[name] + [fmt(r["per_class_iou"][c]) for c in SCORED_NAMES] for name, r in models.items()]
    return markdown_table(["model"] + SCORED_NAMES, rows)


def report_header(runs: dict[str, Run]) -> str:
    """Which data, weights, device and code the report's runs used, in sentences."""
    first = next(iter(runs.values())).provenance
    sources = {r.provenance["data_source"] for r in runs.values()}
    weights = sorted({r.provenance["weights"] for r in runs.values()})
    if sources == {"real"}:
        data = (f"**Data:** the real course data (DeepGlobe land-cover subset) in `{first['data_dir']}`; "
                "validation scores are on its validation split.")
    elif sources == {"synthetic"}:
        data = (f"**Data: synthetic** demo data made by `hw_lib.synth` in `{first['data_dir']}`, not the course "
                "data: its numbers show the pipeline and the models' behaviour, and are not comparable with the "
                "seed's (FCN32s 0.670, FCN8s 0.699 mIoU on the real data, with ImageNet weights).")
    else:
        data = "**Data: mixed** (" + ", ".join(f"{n}: {r.provenance['data_source']}" for n, r in runs.items()) + ")."
    scratch = all(w.startswith("none") for w in weights)
    backbone = ("**Backbone weights: none**: every VGG16 here is trained from scratch (ImageNet weights could not "
                "be used), unlike the seed, which starts from ImageNet." if scratch
                else "**Backbone weights:** " + "; ".join(weights) + ".")
    summaries = [r.summary for r in runs.values()]
    train, scored = sorted({s["train_px"] for s in summaries}), sorted({s["scored_at_px"] for s in summaries})
    crops = sorted({r.provenance.get("crop_size") for r in runs.values()} - {None})
    cropped = (f"; each training step sees random {', '.join(map(str, crops))} px crops of them, validation and "
               "scoring whole images" if crops else "")
    if train == scored:
        size = f"**Resolution:** trained and scored at {', '.join(map(str, scored))} px{cropped}."
    else:
        size = (f"**Resolution:** trained at {', '.join(map(str, train))} px (the images resized{cropped}), scored at "
                f"{', '.join(map(str, scored))} px, the masks' own size: predictions upsampled to it, exactly as "
                "`python -m hw_lib.predict` + `python -m hw_lib.evaluate` score them. Per-epoch curves are at the "
                "training size.")
    devices = sorted({r.provenance["device"] for r in runs.values()})
    minutes = sum(s["wall_seconds"] for s in summaries) / 60
    device = (f"**Device:** {', '.join(devices)}; {minutes:.1f} minutes of training and validation for the "
              f"{len(runs)} models. Per model:")
    return "\n\n".join([data, backbone, size, device])


def trained_at(provenance: dict) -> str:
    """``"128 px"``, or ``"128 px, 64 px crops"`` for a run trained on crops."""
    crop = provenance.get("crop_size")
    return f"{provenance['image_size']} px" + (f", {crop} px crops" if crop else "")


def header_table(runs: dict[str, Run]) -> str:
    """What each run used: data, backbone weights, device, time, commit."""
    rows = []
    for name, run in runs.items():
        p, s = run.provenance, run.summary
        commit = p["git_commit"][:12] + ("+dirty" if p["git_commit"].endswith("+dirty") else "")
        rows.append([name, p["data_source"], f"{p['train_pairs']}/{p['val_pairs']}", trained_at(p),
                     p["weights"].split(":")[0], p["precision"], str(s["epochs"]), f"{s['wall_seconds']:.0f} s",
                     f"{s['train_images_per_second']:.1f}", commit])
    header = ["model", "data", "pairs (train/val)", "trained at", "weights", "precision", "epochs", "wall time",
              "train img/s", "commit"]
    return markdown_table(header, rows)


def load_runs(runs_dir: str | Path, models: tuple[str, ...] = REPORT_MODELS) -> dict[str, Run]:
    """The finished run of each model under ``runs_dir``; a clear error for any that is missing."""
    runs = {name: Run.load(Path(runs_dir) / name) for name in models}
    unfinished = [str(run.path) for run in runs.values() if not run.finished]
    if unfinished:
        raise ConfigError(f"unfinished runs (train them first): {', '.join(unfinished)}")
    return runs


def _band_gain(finer: dict[str, Any], coarser: dict[str, Any]) -> tuple[float, float]:
    return (finer["boundary_accuracy"] - coarser["boundary_accuracy"],
            finer["interior_accuracy"] - coarser["interior_accuracy"])


def _verdict(table: dict[str, Any]) -> tuple[bool, str]:
    """Whether FCN8s beats FCN32s (the paired interval excludes 0 and the difference is positive), in words."""
    models, comparison = table["models"], table["comparisons"]["fcn8s - fcn32s"]
    r32, r8 = models["fcn32s"], models["fcn8s"]
    delta, ci = comparison["delta"], ci_text(comparison["ci95"])
    figures = (f"mIoU {fmt(r8['final_miou'])} against {fmt(r32['final_miou'])} at {r8['scored_at_px']} px "
               f"({delta:+.3f}; 95% paired bootstrap interval over the {r8['val_pairs']} validation images: {ci})")
    if comparison["excludes_zero"] and delta > 0:
        return True, (f"**FCN8s beats FCN32s** on this validation set: {figures}. The interval excludes 0, so the "
                      "difference is real on these images, not an accident of which images were drawn.")
    if comparison["excludes_zero"]:
        return False, (f"**FCN8s does not beat FCN32s**: FCN32s is better on this validation set, {figures}. The "
                       "interval excludes 0, so FCN32s's lead is real on these images.")
    return False, (f"**FCN8s and FCN32s cannot be told apart** on this validation set: {figures}. The interval "
                   "includes 0, so the difference is not shown to be real.")


def discussion(table: dict[str, Any], runs: dict[str, Run]) -> str:
    """The section-5 discussion, every claim computed from ``table`` (see :func:`results`)."""
    models = table["models"]
    r32, r16, r8 = models["fcn32s"], models["fcn16s"], models["fcn8s"]
    wins, verdict = _verdict(table)
    text = [verdict]
    c16 = table["comparisons"].get("fcn16s - fcn32s")
    if c16:
        real = ("the interval excludes 0, so it is real" if c16["excludes_zero"]
                else "the interval includes 0, so it is not shown to be real")
        text.append(f"FCN16s (the pool4 skip only) against FCN32s: {c16['delta']:+.3f}, 95% interval "
                    f"{ci_text(c16['ci95'])}; {real}.")

    collapsed = {n: r["dominant_prediction"] for n, r in models.items() if r["dominant_prediction"]["share"] >= COLLAPSED}
    for name, top in collapsed.items():
        scratch = (f" (from scratch, {name}'s only path to the scores runs through all of VGG16 and fc6/fc7)"
                   if models[name]["weights"].startswith("none") else "")
        text.append(f"{name} predicts {top['class']} for {top['share']:.1%} of the validation pixels at the end: it has not learned to tell the classes apart{scratch}, so its IoU is near 0 for every "
                    "other class.")

    px = r32["train_px"]
    cells, course_cells = score_map_side(px), score_map_side(512)
    if cells <= COARSE_SCORE_MAP:
        text.append(f"Resolution: trained at {px} px, FCN32s's stride-32 score map has {cells}x{cells} "
                    f"cell{'s' if cells > 1 else ''} per image (pool5 is {cells + 1}x{cells + 1} and the seed's 2x2 "
                    f"fc6 takes one off; at 512 px it is {course_cells}x{course_cells}). Its masks hold at "
                    f"most {cells * cells} class-score vector{'s' if cells > 1 else ''} per image, which the learned "
                    "upsampling only spreads out, so part of FCN8s's and FCN16s's lead here is that handicap of "
                    "the small training size, not only what their skips add at the course's resolution.")

    gains = {c: r8["per_class_iou"][c] - r32["per_class_iou"][c] for c in SCORED_NAMES
             if r8["per_class_iou"][c] is not None and r32["per_class_iou"][c] is not None}
    if gains:
        up, down = max(gains, key=gains.get), min(gains, key=gains.get)
        text.append(f"Per class (FCN8s minus FCN32s IoU), the largest change is {up} ({gains[up]:+.3f}) and the "
                    f"smallest {down} ({gains[down]:+.3f}); {sum(g > 0 for g in gains.values())} of {len(gains)} "
                    "classes improve.")

    width, share = r8["band_width_px"], runs["fcn8s"].summary["boundary_fraction"]
    db, di = _band_gain(r8, r32)
    text.append(f"Within {width} px of a ground-truth class boundary ({share:.0%} of the validation pixels) FCN8s's "
                f"pixel accuracy is {fmt(r8['boundary_accuracy'])} against FCN32s's {fmt(r32['boundary_accuracy'])} "
                f"({db:+.3f}); farther from boundaries it is {fmt(r8['interior_accuracy'])} against "
                f"{fmt(r32['interior_accuracy'])} ({di:+.3f}). From FCN16s to FCN8s (adding the pool3 skip) the "
                "changes are {:+.3f} at boundaries and {:+.3f} inside regions.".format(*_band_gain(r8, r16)))
    pair, (db, di) = ("FCN16s", _band_gain(r8, r16)) if "fcn32s" in collapsed else ("FCN32s", (db, di))
    if db > di and db > 0:
        text.append(f"Against {pair}, FCN8s gains more at boundaries than inside regions: fusing pool4 and pool3 "
                    "gives it scores on a stride-8 grid where the coarser models interpolate a stride-16 or -32 grid, "
                    "the reason the FCN paper gives for its skip connections.")
    else:
        text.append(f"Against {pair}, FCN8s does not gain more at boundaries than inside regions, so on this data its "
                    "skip connections do not pay off mainly through finer boundaries.")

    reach = {n: r["epochs_to_90pct_of_best"] for n, r in models.items() if n not in collapsed}
    if reach:
        text.append(f"Convergence: 90% of the best validation mIoU (at {r8['train_px']} px, per epoch) is reached after "
                    + ", ".join(f"{reach[n]} epoch{'s' if reach[n] != 1 else ''} ({n})" for n in reach)
                    + (f"; {', '.join(collapsed)} never left {'its' if len(collapsed) == 1 else 'their'} single class"
                       if collapsed else "") + ".")

    if not wins:
        why = []
        if still_improving(runs["fcn8s"]):
            why.append("FCN8s was still improving over its last epochs, so the run is likely too short for it")
        if r8["weights"].startswith("none"):
            why.append("the backbone is trained from scratch: the pool3/pool4 features FCN8s adds carry little "
                       "meaning until the whole VGG16 has learned, whereas the FCN paper starts from ImageNet "
                       "features; FCN8s also adds them unweighted (as the seed prints it), so early noise in "
                       "pool3 enters the scores directly")
        if r8["boundary_accuracy"] <= r32["boundary_accuracy"]:
            why.append("FCN8s is not more accurate at boundaries either, so the finer grid is not yet used")
        text.append("Why: " + ("; ".join(why) if why else "none of the checks above (run length, weights, "
                                                          "boundary accuracy) explains it") + ".")
    return "\n\n".join(text)
