"""The report's prose: its header, the mask tables' captions and the section-5 discussion.

Every sentence is built from :class:`~hw_lib.analysis.Results` (or the snapshot masks), and every
claim is made only where its numbers support it: which way the comparison came out, whether a
model collapsed, how coarse the score maps are, what the learning rate and the seed move. Every
difference the prose states is computed from two unrounded values of ``results.json`` and listed
with their places in it (:class:`Prose`), so a test can recompute each one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .analysis import BASELINE, IMPROVED, SCORED_NAMES, MaskFacts, ModelResult, Results
from .metrics import COLLAPSE_SHARE
from .models import DISPLAY_NAMES, model_class
from .tables import fmt, interval_text, lr_text, percent

#: a model within this much mIoU of the majority-class baseline is no better than it
NO_BETTER = 0.02
#: a per-class IoU change below this is not called an improvement
MEANINGFUL_GAIN = 0.01
#: a class scored below this IoU is one the model does not separate
NOT_SEPARATED = 0.05

Path = tuple[Any, ...]  # a place in results.json: ("models", "fcn8s", "miou", "value")


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _from_scratch(model: ModelResult) -> bool:
    return model.weights.startswith("none")


def _name(value: str) -> str:
    """How the report spells a recipe setting."""
    return {"adamw": "AdamW", "sgd": "SGD with momentum", "onecycle": "one-cycle"}.get(value, value)


@dataclass
class Prose:
    """The discussion's source: ``results.json`` as a document, and the differences stated so far."""

    document: dict[str, Any]
    differences: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, results: Results) -> Prose:
        return cls(json.loads(json.dumps(results.to_dict())))

    def value(self, path: Path) -> float:
        found: Any = self.document
        for key in path:
            found = found[key]
        return found

    def diff(self, minuend: Path, subtrahend: Path) -> str:
        """``+0.293``: the value at ``minuend`` minus the one at ``subtrahend``, unrounded, then shown."""
        text = f"{self.value(minuend) - self.value(subtrahend):+.3f}"
        self.differences.append({"text": text, "minuend": list(minuend), "subtrahend": list(subtrahend)})
        return text


def _miou(name: str) -> Path:
    return ("models", name, "miou", "value")


def _iou(name: str, cls: str) -> Path:
    return ("models", name, "per_class_iou", cls)


# ---- table numbers ------------------------------------------------------------------------------------------

def boundary_claims(results: Results) -> bool:
    """Whether accuracy by distance to a boundary can show where the finer grid places class changes: only
    with two bands at least one cell of FCN32s's (the coarser) score map wide, at the training size."""
    fcn32s = results.model(BASELINE)
    cell = fcn32s.train_px / fcn32s.score_map_at_train_px
    wide = [b for b in fcn32s.boundary_profile if b.high is not None and b.high - b.low >= cell]
    return len(wide) >= 2


def evidence_tables(results: Results) -> dict[str, int]:
    """The numbers of the tables after the discussion, which it cites (the ones that apply to these runs)."""
    names = ["geometry", *(["learning_rates"] if results.lr_rows else []), "shares", "skips",
             *(["boundaries"] if boundary_claims(results) else [])]
    return {name: 5 + i for i, name in enumerate(names)}


# ---- the header ---------------------------------------------------------------------------------------------

def _data_sentence(results: Results) -> str:
    sources = {m.data_source for m in results.models.values()}
    if sources == {"real"}:
        return ("**Data:** the course data (a DeepGlobe land-cover subset), 2000 training and "
                f"{next(iter(results.models.values())).val_pairs} validation pairs of 512x512 images; scores are on "
                "the validation split.")
    if sources == {"synthetic"}:
        return ("**Data: synthetic** demo images, generated, not the course data: its numbers show the pipeline and "
                "the models' behaviour, and are not comparable with the reference's.")
    return "**Data: mixed** (" + ", ".join(f"{m.display_name}: {m.data_source}" for m in results.models.values()) + ")."


def _weights_sentence(results: Results) -> str:
    models = list(results.models.values())
    if all(_from_scratch(m) for m in models):
        return ("**Backbone weights:** none. Every VGG16 here is trained from scratch (no ImageNet weights), unlike "
                "the reference, which starts from ImageNet.")
    return "**Backbone weights:** " + "; ".join(sorted({m.weights for m in models})) + "."


def _resolution_sentence(results: Results) -> str:
    models = list(results.models.values())
    train = sorted({m.train_px for m in models})
    scored = sorted({m.scored_at_px for m in models})
    crops = sorted({m.crop_px for m in models} - {None})
    cropped = (f"; each training step sees random {', '.join(map(str, crops))} px crops of them, validation and "
               "scoring whole images" if crops else "")
    if train == scored:
        return f"**Resolution:** trained and scored at {', '.join(map(str, scored))} px{cropped}."
    return (f"**Resolution:** trained at {', '.join(map(str, train))} px (the images resized{cropped}). Scored at "
            f"{', '.join(map(str, scored))} px, the masks' own size: each model is fed the image resized to "
            f"{', '.join(map(str, train))} px and its class scores are upsampled bilinearly to the mask. Per-epoch "
            "figures are at the training size.")


def _reference_sentence(results: Results) -> str:
    """The reference's numbers beside this report's, and in one sentence why the settings differ."""
    ref, first = results.reference, next(iter(results.models.values()))
    ours = ", ".join(f"{m.display_name} {fmt(m.miou.value)}" for n, m in results.models.items() if n in ref["miou"])
    differences = []
    if _from_scratch(first):
        differences.append("no ImageNet weights (every layer starts random)")
    if not first.device.startswith("cuda"):
        differences.append("a CPU instead of a GPU")
    if first.train_px != ref["train_px"]:
        differences.append(f"{first.train_px} px training images instead of {ref['train_px']}")
    if first.epochs != ref["epochs"]:
        differences.append(f"{first.epochs} epochs instead of {ref['epochs']}")
    reference = (f"**The homework's reference:** the homework write-up this report reproduces (its numbers and code "
                 f"are those of thtang/DLCV2018SPRING, hw3, on GitHub) reports FCN32s "
                 f"{fmt(ref['miou']['fcn32s'])} and FCN8s {fmt(ref['miou']['fcn8s'])} mIoU, with ImageNet VGG16 "
                 f"weights, {ref['epochs']} epochs on a GPU, trained at {ref['train_px']} px (every second pixel) "
                 f"and scored at {ref['scored_at_px']} px; this report: {ours}.")
    if not differences:
        return reference + " Its runs use the reference's setting."
    if first.data_source == "synthetic":
        why = "the demo checks the pipeline in minutes"
    elif not first.device.startswith("cuda"):
        why = "on a 2-core CPU the three models must train within about an hour, which larger images do not allow"
    else:
        why = "they were chosen for these runs"
    return reference + f" Its runs differ: {_listing(differences)}; {why}."


def _recipe_sentence(results: Results) -> str:
    """The optimisation recipe, saying where the models' peak learning rates differ."""
    models = list(results.models.values())
    r = models[0].recipe
    rates = {m.recipe["lr"] for m in models}
    lr = (f"peak learning rate {lr_text(r['lr'])}" if len(rates) == 1 else "peak learning rate "
          + _listing([f"{m.display_name} {lr_text(m.recipe['lr'])}" for m in models])
          + " (not one recipe: the comparison is confounded by the learning rate)")
    backbone = r.get("backbone_lr_scale")
    scale = f", the backbone at {backbone:g} of it" if backbone not in (None, 1.0) else ""
    augment = ", random flips and 90-degree rotations" if r["augment"] else ""
    same = "the same for the three models: " if len(rates) == 1 and len(models) > 1 else ""
    return (f"**Recipe**, {same}{_name(r['optimizer'])} with a {_name(r['schedule'])} schedule, batch "
            f"{r['batch_size']}, {models[0].epochs} epochs, {lr}{scale}, weight decay {lr_text(r['weight_decay'])}"
            f"{augment}; seed {r['seed']}.")


def report_header(results: Results) -> str:
    """Which data, weights, resolution, device and reference the report's numbers stand on, in sentences."""
    minutes = sum(m.wall_seconds for m in results.models.values()) / 60
    devices = sorted({m.device for m in results.models.values()})
    device = (f"**Device:** {', '.join(devices)}; {minutes:.1f} minutes of training and validation for the "
              f"{len(results.models)} models (Table 1).")
    return "\n\n".join([_data_sentence(results), _weights_sentence(results), _resolution_sentence(results),
                        _recipe_sentence(results), device, _reference_sentence(results)])


def how_made(results: Results, runs_dir: str) -> str:
    """The one paragraph that names the code: where the numbers are read from and how to make them again."""
    recorded = (f" The learning-rate table adds the runs listed, each with its source, in `{results.recorded.path}`."
                if results.recorded else "")
    return (f"**How this report was made.** `./run_all.sh` trains each model with `notebooks/train.ipynb` into a run "
            f"directory under `{runs_dir}` (config, per-epoch metrics, snapshot masks, weights) and then executes this "
            f"notebook, `notebooks/report.ipynb`, which reads every number from those runs and the data in "
            f"`{results.data_dir}`; no number is typed in. The final scores are those of `python -m hw_lib.predict` "
            f"followed by `python -m hw_lib.evaluate`, the course's tools.{recorded} The same numbers, unrounded, are "
            "in "
            "`results.json` beside this report, with every difference the discussion states and the two values it is "
            "computed from.")


# ---- the mask tables ------------------------------------------------------------------------------------------

def mask_caption(model: ModelResult, facts: list[MaskFacts]) -> str:
    """Sentences computed from a mask table's masks: how they were made, classes per mask, change and accuracy
    from first to last, and what explains each fall of accuracy between snapshots."""
    epochs = sorted(facts[0].classes)
    first, last = epochs[0], epochs[-1]
    ids = _listing([f.sample_id for f in facts])
    per = lambda values: _listing([str(v) for v in values])  # noqa: E731
    side, cells = facts[0].side, model.score_map_at_train_px
    text = (f"Each mask is predicted from the image resized to {side} px (the training size), one label per pixel of "
            f"a {side}x{side} grid, drawn enlarged; {model.display_name}'s class scores at that size come from a "
            f"score map of {cells}x{cells} cell{'s' if cells > 1 else ''} per image.")
    if cells == 1:
        text += (" With one cell, one class-score vector covers the whole image and the learned upsampling turns it "
                 "into the same pattern whatever the image shows: the masks are near one colour, or one fixed "
                 "pattern of a few classes, by construction.")
    text += (f" The number of classes in the predictions of {ids} is {per(f.classes[first] for f in facts)} at epoch "
             f"{first}")
    if last != first:
        text += f" and {per(f.classes[last] for f in facts)} at epoch {last}"
    text += f" (in their ground truths {per(f.truth_classes for f in facts)})."
    if all(n == 1 for f in facts for n in f.classes.values()):
        text += " Every predicted mask is a single class at every snapshot shown."
    if last != first:
        text += (f" From epoch {first} to {last}, {per(percent(f.changed) for f in facts)} of their pixels change "
                 f"class, and their pixel accuracy goes from {per(fmt(f.accuracy[first], 2) for f in facts)} to "
                 f"{per(fmt(f.accuracy[last], 2) for f in facts)}.")
    for f in facts:
        for d in f.drops:
            text += (f" In {f.sample_id}, accuracy falls from {fmt(d.accuracy[0], 2)} at epoch {d.epochs[0]} to "
                     f"{fmt(d.accuracy[1], 2)} at epoch {d.epochs[1]}: most of the pixels that turn wrong are "
                     f"{d.truth} predicted as {d.predicted} ({percent(d.share)} of the image).")
    return text


# ---- the discussion -----------------------------------------------------------------------------------------

def _answer(results: Results, prose: Prose) -> str:
    """The answer first: what each model can resolve at the trained size, and the classes that follow from it."""
    fcn32s, fcn8s = results.model(BASELINE), results.model(IMPROVED)
    diff = results.comparisons[f"{IMPROVED} - {BASELINE}"]
    t = evidence_tables(results)
    px, c32, c8 = fcn8s.train_px, fcn32s.score_map_at_train_px, fcn8s.score_map_at_train_px
    cells32 = ("one class-score vector for the whole image (a 1x1 map: pool5 is 2x2 and the reference's 2x2 fc6 "
               "takes one off), which its learned upsampling turns into the same pattern wherever the classes lie"
               if c32 == 1
               else f"a {c32}x{c32} map, cells of about {px / c32:.0f} px")
    scored = [c for c in SCORED_NAMES if fcn32s.per_class_iou[c] is not None]
    lost = [c for c in scored if fcn32s.per_class_iou[c] < NOT_SEPARATED]
    kept = [f"{c} ({fmt(fcn32s.per_class_iou[c])})" for c in scored if c not in lost]
    gains = {c: fcn8s.per_class_iou[c] - fcn32s.per_class_iou[c] for c in scored
             if fcn8s.per_class_iou[c] is not None}
    gained = sorted((c for c in gains if gains[c] > MEANINGFUL_GAIN), key=gains.get, reverse=True)
    if not (diff.excludes_zero and diff.value > 0):
        verdict = ("does not beat FCN32s" if diff.excludes_zero else "cannot be told apart from FCN32s")
        return (f"**The answer.** Here FCN8s {verdict} (Table 3), although at {px} px FCN32s has {cells32} and FCN8s "
                f"a {c8}x{c8} map fed by pool3 and pool4 (Table {t['geometry']}): the finer map did not pay in these "
                "runs. " + _why_not(results))
    can = ("it can label the parts of an image where they are, and FCN32s cannot" if c32 == 1
           else f"its class-score map is {round(c8 / c32, 1):g} times finer than FCN32s's")
    text = f"**The answer.** FCN8s wins because at {px} px {can}. FCN32s has {cells32}"
    if lost:
        zero = all(fcn32s.per_class_iou[c] == 0 for c in lost)
        text += (f", so it separates only {_listing(kept) if kept else 'no class'} and scores "
                 f"{_listing(lost)} {'at 0' if zero else f'below {NOT_SEPARATED}'} IoU (Table 4)")
    text += (f". FCN8s's {c8}x{c8} map (Table {t['geometry']}) has cells of {px / c8:.0f} px, and its skips bring "
             "pool3's and pool4's features to them")
    if gained:
        text += ("; its gains are in " + _listing([f"{c} ({prose.diff(_iou(IMPROVED, c), _iou(BASELINE, c))})"
                                                   for c in gained]))
        recovered = [c for c in gained if c in lost]
        if recovered:
            text += (", all of them classes FCN32s does not separate" if len(recovered) == len(gained) else
                     f"; {_listing(recovered)} {'is a class' if len(recovered) == 1 else 'are classes'} FCN32s does "
                     "not separate at all")
    text += "."
    if "fcn16s" in results.models:
        fcn16s = results.model("fcn16s")
        c16 = fcn16s.score_map_at_train_px
        with16 = [c for c in gained if fcn16s.per_class_iou[c] - fcn32s.per_class_iou[c] > MEANINGFUL_GAIN]
        without16 = [c for c in gained if c not in with16]
        text += f" FCN16s (the pool4 skip only, {c16}x{c16} cells of {px / c16:.0f} px) "
        if not with16:
            text += f"gains more than {MEANINGFUL_GAIN} IoU in none of these classes."
        else:
            text += f"gains in {_listing(with16)}" + (f" but not in {_listing(without16)}." if without16 else ".")
    nobody = [c for c in scored if all(m.per_class_iou[c] is not None and m.per_class_iou[c] < NOT_SEPARATED
                                       for m in results.models.values())]
    if nobody:
        text += f" No model separates {_listing(nobody)} (IoU under {NOT_SEPARATED} for all three)."
    ref, ref_px = results.reference, results.reference["train_px"]
    if c32 < model_class(BASELINE).score_map_side(ref_px) and diff.value > ref["miou"]["fcn8s"] - ref["miou"]["fcn32s"]:
        side = model_class(BASELINE).score_map_side(ref_px)
        gap = prose.diff(("reference", "miou", "fcn8s"), ("reference", "miou", "fcn32s"))
        text += (f" So the size of this lead belongs to the {px} px training images as much as to the skips: at the "
                 f"reference's {ref_px} px (with ImageNet weights) FCN32s has a {side}x{side} map, and there the lead "
                 f"is {gap}.")
    text += (" What these runs do not settle is whether the skips pay through the features they carry or through the "
             "finer grid they give the output: in these models the two come together (the ablation, Table "
             f"{t['skips']}, below).")
    return text


def _verdict(results: Results, prose: Prose) -> str:
    """Whether FCN8s beats FCN32s, what the interval covers, and whether the baseline had collapsed."""
    fcn32s, fcn8s = results.model(BASELINE), results.model(IMPROVED)
    diff = results.comparisons[f"{IMPROVED} - {BASELINE}"]
    figures = (f"mIoU {fmt(fcn8s.miou.value)} against {fmt(fcn32s.miou.value)} at {fcn8s.scored_at_px} px "
               f"({prose.diff(_miou(IMPROVED), _miou(BASELINE))}; 95% paired bootstrap interval "
               f"{interval_text(diff.low, diff.high)}, Table 3)")
    if diff.excludes_zero and diff.value > 0:
        text = f"**The comparison.** FCN8s beats FCN32s on these validation images: {figures}."
        if fcn32s.collapsed:
            text += (f" But FCN32s has collapsed: it gives {fcn32s.most_predicted.name} "
                     f"{percent(fcn32s.most_predicted.share)} of the pixels, so this difference measures that collapse "
                     "more than what FCN8s adds to a working baseline.")
    elif diff.excludes_zero:
        text = (f"**The comparison.** FCN8s does not beat FCN32s: FCN32s is better on these validation images, "
                f"{figures}.")
    else:
        text = (f"**The comparison.** FCN8s and FCN32s cannot be told apart on these validation images: {figures}; "
                "the interval includes 0.")
    return text + (f" The interval resamples the {fcn8s.val_pairs} validation images, so it covers which images were "
                   "drawn, not training randomness: each model here is one training run.")


def _learning_rates(results: Results, prose: Prose) -> str:
    """The common lr against each model's best, and how far a seed moves a number (from the recorded runs)."""
    rows = results.lr_rows
    if not rows or BASELINE not in rows or IMPROVED not in rows:
        return ""
    table = evidence_tables(results)["learning_rates"]
    index = {name: {row.lr: i for i, row in enumerate(model_rows)} for name, model_rows in rows.items()}
    common = {name: next((r for r in model_rows if r.common), None) for name, model_rows in rows.items()}
    best = {name: next(r for r in model_rows if r.best) for name, model_rows in rows.items()}
    if common[BASELINE] is None or common[IMPROVED] is None:
        return ""
    mean = lambda name, row: ("learning_rates", name, index[name][row.lr], "mean")  # noqa: E731
    lr = common[IMPROVED].lr
    text = (f"**The learning rate.** The three models share one recipe, peak lr {lr_text(lr)}. Table {table} has each "
            "at every peak lr this recipe was run with, and the mean over the seeds run (the runs besides this "
            "report's three are other runs of the same recipe, each with its source). The lr that suits each best by "
            "that mean: "
            + _listing([f"{DISPLAY_NAMES[n]} {lr_text(best[n].lr)}" + (" (the common one)" if best[n].common else "")
                        for n in rows]) + ".")
    seeds = lambda row: f"{len(row.runs)} seed{'s' if len(row.runs) > 1 else ''}"  # noqa: E731
    at_common = (f"{prose.diff(mean(IMPROVED, common[IMPROVED]), mean(BASELINE, common[BASELINE]))} at the common lr "
                 f"(FCN8s over {seeds(common[IMPROVED])}, FCN32s over {seeds(common[BASELINE])})")
    if best[IMPROVED].common and best[BASELINE].common:
        text += f" FCN8s's lead over FCN32s in those means is {at_common}, which is also each model's best lr."
    else:
        gap_common = common[IMPROVED].mean - common[BASELINE].mean
        gap_best = best[IMPROVED].mean - best[BASELINE].mean
        moved = ("much less than the lead itself" if abs(gap_best - gap_common) < gap_common / 4 else
                 "a large part of the lead")
        text += (f" FCN8s's lead over FCN32s in those means is {at_common} and "
                 f"{prose.diff(mean(IMPROVED, best[IMPROVED]), mean(BASELINE, best[BASELINE]))} with each model at its "
                 f"own best lr (FCN8s over {seeds(best[IMPROVED])}, FCN32s over {seeds(best[BASELINE])}; means over "
                 f"different numbers of seeds, picked on these validation images): the choice of learning rate moves "
                 f"the lead by {moved}.")
    collapsed = [(r.lr, max(x.top_share for x in r.runs if x.top_share is not None)) for r in rows[BASELINE]
                 if any(x.top_share is not None and x.top_share >= 0.9 for x in r.runs)]
    if collapsed:
        text += (" At " + _listing([f"{lr_text(lr_)} ({percent(share)})" for lr_, share in collapsed])
                 + " FCN32s gives its most predicted class over 90% of the pixels in some seed, close to predicting "
                 "the majority class everywhere.")
    seeded = [(n, common[n]) for n in rows if common[n] is not None and len(common[n].runs) > 1]
    if seeded:
        spreads = _listing([f"{DISPLAY_NAMES[n]} {fmt(r.spread)} ({len(r.runs)} seeds)" for n, r in seeded])
        largest = max(r.spread for _, r in seeded)
        gap = results.comparisons[f"{IMPROVED} - {BASELINE}"].value
        text += (f" **Seeds:** at the common lr another seed moves a final mIoU by up to {spreads} (largest minus "
                 f"smallest), {'far less than' if largest < gap / 2 else 'not far from'} FCN8s's lead; a difference "
                 "of a few hundredths between two single runs is within what a seed does.")
    return text


def _baseline(results: Results, prose: Prose) -> str:
    base = results.majority_baseline
    base_path = ("majority_baseline", "miou", "value")
    above = [f"{m.display_name} {prose.diff(_miou(n), base_path)}" for n, m in results.models.items()]
    text = (f"**The floor.** Predicting {base.class_name}, the training split's most frequent class, for every pixel "
            f"scores mIoU {fmt(base.miou.value)} {interval_text(base.miou.low, base.miou.high)} (pixel accuracy "
            f"{fmt(base.pixel_accuracy)}; last row of Table 2). Against it: {_listing(above)}.")
    no_better = [m.display_name for m in results.models.values() if m.miou.value - base.miou.value < NO_BETTER]
    if no_better:
        text += f" {_listing(no_better)} {'is' if len(no_better) == 1 else 'are'} no better than that."
    return text


def _class_shares(results: Results) -> str:
    top = max(results.truth_share, key=results.truth_share.get)
    shares = [f"{m.display_name} {m.most_predicted.name} ({percent(m.most_predicted.share)})"
              for m in results.models.values()]
    text = (f"**Class shares.** The ground truth gives {top} {percent(results.truth_share[top])} of the validation "
            f"pixels; the class each model predicts most, and its share: {_listing(shares)} (Table "
            f"{evidence_tables(results)['shares']} has every class, Figure 6 where each true class's pixels go).")
    collapsed = [m for m in results.models.values() if m.collapsed]
    if collapsed:
        names = _listing([f"{m.display_name} to {m.most_predicted.name}" for m in collapsed])
        text += (f" Collapsed (one class for {percent(COLLAPSE_SHARE)} of the pixels or more): {names}; "
                 f"{'its' if len(collapsed) == 1 else 'their'} IoU is near 0 for every other class.")
    return text


def _skips(results: Results, prose: Prose) -> str:
    """The inference-time skip ablation: what FCN8s's predictions rely on, and what it cannot tell."""
    fcn8s, fcn32s = results.model(IMPROVED), results.model(BASELINE)
    ablation, full = fcn8s.skip_ablation, fcn8s.miou_at_train_px
    if full is None or not ablation or any(v is None for v in ablation.values()):
        return ""
    table = evidence_tables(results)["skips"]
    at = lambda key: ("models", IMPROVED, "analysis", "skip_ablation", key)  # noqa: E731
    full_path = ("models", IMPROVED, "analysis", "miou_at_train_px")
    text = (f"**What the skips carry** (Table {table}): the trained FCN8s scores mIoU {fmt(full)} at {fcn8s.train_px} "
            f"px with both skips, {fmt(ablation['pool3'])} without pool3 ({prose.diff(at('pool3'), full_path)}), "
            f"{fmt(ablation['pool4'])} without pool4 ({prose.diff(at('pool4'), full_path)}) and "
            f"{fmt(ablation['pool4+pool3'])} with neither ({prose.diff(at('pool4+pool3'), full_path)}: its stride-32 "
            f"path alone), against {fmt(fcn32s.miou_at_train_px)} for the FCN32s trained as such.")
    if full - ablation["pool4+pool3"] > NO_BETTER:
        most, least = sorted(("pool3", "pool4"), key=lambda k: ablation[k])
        text += f" Its predictions rely on the skips, on {most} most and on {least} least."
    else:
        text += f" Removing both changes its score by less than {NO_BETTER}: FCN8s barely relies on its skips."
    limits = (" This measures reliance, not benefit, and it cannot separate the two things a skip brings: pool3's "
              "and pool4's features, and the finer grid of the output (removing a skip takes both away, and the "
              "layers after it were trained with it)")
    if fcn8s.device.startswith("cuda"):
        return text + limits + "; a trained control (an FCN8s trained with its skip inputs set to zero) would."
    return text + limits + (". A trained control would separate them, e.g. an FCN8s trained with its skip inputs set "
                            "to zero, which keeps the stride-8 output but only stride-32 features; it is a fourth "
                            "training run, which does not fit in the hour this CPU report is given.")


def _boundaries(results: Results, prose: Prose) -> str:
    """Accuracy by distance to a true class boundary, claimed only in bands a coarse cell wide."""
    fcn8s, fcn32s = results.model(IMPROVED), results.model(BASELINE)
    px, c32 = fcn32s.train_px, fcn32s.score_map_at_train_px
    cell = px / c32
    if not boundary_claims(results):
        widest = max(b.high - b.low for b in fcn32s.boundary_profile if b.high is not None)
        whole = f"at {px} px its one cell is the whole image"
        return (f"**Boundaries:** not compared at this size. Accuracy by distance to a true class boundary could show "
                f"whether the finer grid places class changes better, but only in bands at least one FCN32s cell wide "
                f"({whole if c32 == 1 else f'{cell:.0f} px at {px} px'}), and the bands measured are at most {widest} "
                "px wide: in them a gain of FCN8s would only repeat that it predicts more classes at all.")
    table = evidence_tables(results)["boundaries"]
    wide = [(i, b) for i, b in enumerate(fcn8s.boundary_profile)
            if b.high is not None and b.high - b.low >= cell and b.accuracy is not None]
    (i0, near), (i1, far) = wide[0], wide[-1]
    acc = lambda name, i: ("models", name, "analysis", "boundary_profile", i, "accuracy")  # noqa: E731
    near_gain = prose.diff(acc(IMPROVED, i0), acc(BASELINE, i0))
    far_gain = prose.diff(acc(IMPROVED, i1), acc(BASELINE, i1))
    return (f"**Boundaries** (Table {table}, bands at least one FCN32s cell of {cell:.0f} px wide): within "
            f"{near.label} of a true boundary FCN8s's pixel accuracy is {near_gain} against FCN32s's, at {far.label} "
            f"{far_gain}.")


def _training_length(results: Results) -> str:
    models = list(results.models.values())
    if all(m.best_epoch == m.epochs for m in models):
        return (f"**Training length:** every model has its best validation mIoU (at {models[0].train_px} px) at its "
                f"last epoch, {models[0].epochs} (Figure 5): they are undertrained, so the ranking compares "
                f"how far each got in {models[0].epochs} epochs (how fast it learns) as much as what it could reach; "
                "longer training could change the gaps.")
    best = _listing([f"{m.display_name} epoch {m.best_epoch} of {m.epochs}" for m in models])
    return f"**Training length:** the best validation epoch (at {models[0].train_px} px) is {best} (Figure 5)."


def _why_not(results: Results) -> str:
    """Where FCN8s does not win: the reasons the runs support."""
    fcn8s = results.model(IMPROVED)
    why = []
    if fcn8s.best_epoch == fcn8s.epochs:
        why.append("FCN8s was still improving at its last epoch, so the run is likely too short for it")
    if _from_scratch(fcn8s):
        why.append("the backbone is trained from scratch: the pool3/pool4 features FCN8s adds carry little meaning "
                   "until the whole VGG16 has learned, whereas the FCN paper starts from ImageNet features; FCN8s also "
                   "adds them unweighted (as the reference prints it), so early noise in pool3 enters the scores "
                   "directly")
    return "Why: " + ("; ".join(why) if why else "neither run length nor weights explains it") + "."


def _paragraphs(results: Results, prose: Prose) -> list[str]:
    return [_answer(results, prose), _verdict(results, prose), _learning_rates(results, prose),
            _baseline(results, prose), _class_shares(results), _skips(results, prose), _boundaries(results, prose),
            _training_length(results)]


def discussion(results: Results) -> str:
    """The section-5 discussion: the answer first, then the evidence, every number from ``results``."""
    return results_document(results)["discussion"]["text"]


def results_document(results: Results) -> dict[str, Any]:
    """``results.json``: the results, the discussion as the report states it, and each difference it states
    with the two places in this document it is computed from."""
    prose = Prose.of(results)
    text = "\n\n".join(p for p in _paragraphs(results, prose) if p)
    return {**prose.document, "discussion": {"text": text, "differences": prose.differences}}
