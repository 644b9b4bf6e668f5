"""The report's tables, as markdown (rendered by the notebook, HTML and, through pandoc, the PDF)."""
from __future__ import annotations

from .analysis import BASELINE, IMPROVED, SCORED_NAMES, ModelResult, Results
from .models import DISPLAY_NAMES


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def interval_text(low: float, high: float) -> str:
    return f"[{low:.3f},\u00a0{high:.3f}]"  # a no-break space keeps the interval on one line


def lr_text(value: float) -> str:
    """A learning rate as the docs write it: ``5e-4``, ``1.5e-3``, ``0.01``."""
    if value >= 0.01:
        return f"{value:g}"
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A pipe table whose separator dashes follow each column's widest cell: pandoc sizes the PDF's
    columns by them, so a column of short numbers is not given the width of a long heading."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("-" * max(3, w) for w in widths) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def caption(kind: str, number: int | str, text: str) -> str:
    """``**Table 2.** text``: the caption line under a table or figure."""
    return f"**{kind} {number}.** {text}"


def trained_at(model: ModelResult) -> str:
    """``"128 px"``, or ``"128 px, 64 px crops"`` for a run trained on crops."""
    return f"{model.train_px} px" + (f", {model.crop_px} px crops" if model.crop_px else "")


def runs_table(results: Results) -> str:
    """What each run used: data, backbone weights, device, time, commit."""
    rows = []
    for m in results.models.values():
        commit = m.git_commit[:8] + ("+dirty" if m.git_commit.endswith("+dirty") else "")
        rows.append([m.display_name, f"{m.train_pairs}/{m.val_pairs}", trained_at(m), m.weights.split(":")[0],
                     lr_text(m.recipe["lr"]), m.precision, str(m.epochs), f"{m.wall_seconds:.0f} s",
                     f"{m.train_images_per_second:.1f}", commit])
    return markdown_table(["model", "pairs", "trained at", "weights", "peak lr", "precision", "epochs",
                           "wall time", "img/s", "commit"], rows)


def miou_table(results: Results) -> str:
    """Final mIoU at the masks' size with its interval, the best per-epoch figure at the training size, the
    majority-class baseline, and the reference's numbers beside them."""
    first = next(iter(results.models.values()))
    scored, train = first.scored_at_px, first.train_px
    reference = results.reference["miou"]
    rows = [[m.display_name, fmt(m.miou.value), interval_text(m.miou.low, m.miou.high),
             f"{fmt(m.best_miou_at_train_px)} ({m.best_epoch})", fmt(m.pixel_accuracy),
             fmt(reference[name]) if name in reference else ""]
            for name, m in results.models.items()]
    base = results.majority_baseline
    rows.append([f"{base.class_name} everywhere", fmt(base.miou.value), interval_text(base.miou.low, base.miou.high),
                 "", fmt(base.pixel_accuracy), ""])
    return markdown_table(["model", f"mIoU at {scored} px", "95% interval", f"best at {train} px (epoch)",
                           "pixel accuracy", "reference"], rows)


def comparison_table(results: Results) -> str:
    """The paired differences with their intervals."""
    rows = []
    for pair, diff in results.comparisons.items():
        finer, coarser = pair.split(" - ")
        rows.append([f"{DISPLAY_NAMES[finer]} - {DISPLAY_NAMES[coarser]}", f"{diff.value:+.3f}",
                     interval_text(diff.low, diff.high), "yes" if diff.excludes_zero else "no"])
    return markdown_table(["difference of mIoU", "value", "95% interval (paired)", "excludes 0"], rows)


def class_iou_table(results: Results) -> str:
    """Final per-class IoU, one row per model."""
    rows = [[m.display_name] + [fmt(m.per_class_iou[c]) for c in SCORED_NAMES] for m in results.models.values()]
    return markdown_table(["model"] + SCORED_NAMES, rows)


def geometry_table(results: Results) -> str:
    """Each model's finest score map at the training and the scoring size, and the class it predicts most."""
    first = next(iter(results.models.values()))
    rows = [[m.display_name, f"{m.score_map_at_train_px}x{m.score_map_at_train_px}",
             f"{m.score_map_at_scored_px}x{m.score_map_at_scored_px}",
             f"{m.most_predicted.name} ({percent(m.most_predicted.share)})"] for m in results.models.values()]
    top = max(results.truth_share, key=results.truth_share.get)
    rows.append(["ground truth", "", "", f"{top} ({percent(results.truth_share[top])})"])
    return markdown_table(["model", f"score map, {first.train_px} px input", f"{first.scored_at_px} px input",
                           "most frequent class (share of pixels)"], rows)


def class_share_table(results: Results) -> str:
    """Share of the validation pixels given to each class: ground truth, then each model."""
    models = results.models.values()
    rows = [[c, percent(results.truth_share[c])] + [percent(m.predicted_share[c]) for m in models]
            for c in SCORED_NAMES]
    return markdown_table(["class", "ground truth"] + [m.display_name for m in models], rows)


def skip_table(results: Results) -> str:
    """Validation mIoU at the training size of each model with its skips, and without them at inference."""
    rows = []
    for m in results.models.values():
        rows.append([m.display_name, "all (as trained)" if m.skip_ablation else "none (it has no skips)",
                     fmt(m.miou_at_train_px)])
        for dropped, miou in m.skip_ablation.items():
            rows.append([m.display_name, f"without {dropped.replace('+', ' and ')}", fmt(miou)])
    first = next(iter(results.models.values()))
    return markdown_table(["model", "skips used at inference", f"mIoU at {first.train_px} px"], rows)


def lr_table(results: Results) -> str:
    """Each model at every peak lr of the recorded runs (this report's included): final mIoU per seed and mean."""
    rows = []
    for name, model_rows in results.lr_rows.items():
        for row in model_rows:
            marks = [m for m, on in (("common", row.common), ("best", row.best)) if on]
            shares = [r.top_share for r in row.runs if r.top_share is not None]
            rows.append([DISPLAY_NAMES[name], lr_text(row.lr) + (f" ({', '.join(marks)})" if marks else ""),
                         ", ".join(str(r.seed) for r in row.runs), ", ".join(fmt(r.miou) for r in row.runs),
                         fmt(row.mean), _share_range(shares, len(row.runs))])
    return markdown_table(["model", "peak lr", "seeds", "final mIoU per seed", "mean", "top class share"], rows)


def _share_range(shares: list[float], runs: int) -> str:
    """``89.0%-89.4%`` over the seeds; ``75.4% (1 of 3 seeds)`` where only some runs recorded it."""
    if not shares:
        return "n/a"
    text = percent(shares[0]) if len(shares) == 1 else f"{percent(min(shares))}-{percent(max(shares))}"
    return text + (f" ({len(shares)} of {runs} seeds)" if len(shares) < runs else "")


def boundary_table(results: Results) -> str:
    """Pixel accuracy by distance to the nearest ground-truth class boundary, per model, at the training size."""
    models = list(results.models.values())
    bins = models[0].boundary_profile
    header = ["distance to a boundary", "pixels"] + [m.display_name for m in models]
    if IMPROVED in results.models and BASELINE in results.models:
        header.append(f"{DISPLAY_NAMES[IMPROVED]} - {DISPLAY_NAMES[BASELINE]}")
    rows = []
    for i, b in enumerate(bins):
        accuracies = [m.boundary_profile[i].accuracy for m in models]
        row = [b.label, percent(b.pixel_share)] + [fmt(a) for a in accuracies]
        if len(header) > len(row):
            gain = gain_at(results, i)
            row.append("n/a" if gain is None else f"{gain:+.3f}")
        rows.append(row)
    return markdown_table(header, rows)


def gain_at(results: Results, index: int) -> float | None:
    """FCN8s's accuracy minus FCN32s's in one distance bin (None where the bin is empty)."""
    a, b = (results.models[n].boundary_profile[index].accuracy for n in (IMPROVED, BASELINE))
    return None if a is None or b is None else a - b
