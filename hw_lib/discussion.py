"""The report's prose: its header, the mask tables' captions and the section-5 discussion.

Every sentence is built from :class:`~hw_lib.analysis.Results` (or the snapshot masks), and every
claim is made only where its numbers support it: which way the comparison came out, whether a
model collapsed, whether the score maps are coarse, where the boundary gain lies.
"""
from __future__ import annotations

from .analysis import BASELINE, IMPROVED, SCORED_NAMES, MaskFacts, ModelResult, Results
from .metrics import COLLAPSE_SHARE
from .models import DISPLAY_NAMES
from .tables import fmt, gain_at, interval_text, percent

#: FCN32s score maps of at most this side are coarse enough to say so
COARSE_SCORE_MAP = 3
#: a model within this much mIoU of the majority-class baseline is no better than it
NO_BETTER = 0.02
#: a per-class IoU change below this is not called an improvement
MEANINGFUL_GAIN = 0.01


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _from_scratch(model: ModelResult) -> bool:
    return model.weights.startswith("none")


def _shown(value: float) -> float:
    """A number as the tables show it (3 decimals), so the prose's differences add up with them."""
    return round(value, 3)


def _name(value: str) -> str:
    """How the report spells a recipe setting."""
    return {"adamw": "AdamW", "sgd": "SGD with momentum", "onecycle": "one-cycle"}.get(value, value)


# ---- the header ---------------------------------------------------------------------------------------------

def _data_sentence(results: Results) -> str:
    """The data folder is the one the report was given (the runs may have been trained where it lay elsewhere,
    on another machine)."""
    sources = {m.data_source for m in results.models.values()}
    if sources == {"real"}:
        return (f"**Data:** the real course data (DeepGlobe land-cover subset) in `{results.data_dir}`; validation "
                "scores are on its validation split.")
    if sources == {"synthetic"}:
        return (f"**Data: synthetic** demo data made by `hw_lib.synth` in `{results.data_dir}`, not the course data: "
                "its numbers show the pipeline and the models' behaviour, and are not comparable with the reference's.")
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
    return (f"**Resolution:** trained at {', '.join(map(str, train))} px (the images resized{cropped}), scored at "
            f"{', '.join(map(str, scored))} px, the masks' own size: class scores upsampled bilinearly to it, "
            "exactly as `python -m hw_lib.predict` + `python -m hw_lib.evaluate` score them. Per-epoch figures are "
            "at the training size.")


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
    reference = (f"**The homework's reference:** the write-up this project reproduces reports FCN32s "
                 f"{fmt(ref['miou']['fcn32s'])} and FCN8s {fmt(ref['miou']['fcn8s'])} mIoU, with ImageNet VGG16 "
                 f"weights, {ref['epochs']} epochs on a GPU, trained at {ref['train_px']} px (every second pixel) "
                 f"and scored at {ref['scored_at_px']} px; this report: {ours}.")
    if not differences:
        return reference + " Its runs use the reference's setting."
    why = ("on a CPU the three models must train within about an hour, which larger images do not allow"
           if not first.device.startswith("cuda") else "the preset the runs were trained with sets them")
    return reference + f" Its runs differ: {_listing(differences)}; {why}."


def _recipe_sentence(results: Results) -> str:
    """The optimisation recipe, saying where the models' peak learning rates differ."""
    models = list(results.models.values())
    r = models[0].recipe
    rates = {m.recipe["lr"] for m in models}
    lr = (f"peak learning rate {r['lr']:g}" if len(rates) == 1 else "peak learning rate "
          + _listing([f"{m.display_name} {m.recipe['lr']:g}" for m in models]) + " (the preset's per-model setting)")
    backbone = r.get("backbone_lr_scale")
    scale = f", the backbone at {backbone:g} of it" if backbone not in (None, 1.0) else ""
    augment = ", random flips and 90-degree rotations" if r["augment"] else ""
    return (f"**Recipe:** {_name(r['optimizer'])} with a {_name(r['schedule'])} schedule, batch {r['batch_size']}, "
            f"{models[0].epochs} epochs, {lr}{scale}{augment}; seed {r['seed']}.")


def report_header(results: Results) -> str:
    """Which data, weights, resolution, device and reference the report's numbers stand on, in sentences."""
    minutes = sum(m.wall_seconds for m in results.models.values()) / 60
    devices = sorted({m.device for m in results.models.values()})
    device = (f"**Device:** {', '.join(devices)}; {minutes:.1f} minutes of training and validation for the "
              f"{len(results.models)} models (Table 1).")
    return "\n\n".join([_data_sentence(results), _weights_sentence(results), _resolution_sentence(results),
                        _recipe_sentence(results), device, _reference_sentence(results)])


# ---- the mask tables ------------------------------------------------------------------------------------------

def mask_caption(name: str, facts: list[MaskFacts]) -> str:
    """One sentence computed from a mask table's masks: classes per mask, change and accuracy from first to last."""
    epochs = sorted(facts[0].classes)
    first, last = epochs[0], epochs[-1]
    ids = _listing([f.sample_id for f in facts])
    per = lambda values: _listing([str(v) for v in values])  # noqa: E731
    text = (f"Computed from these masks: the number of classes in {DISPLAY_NAMES[name]}'s predictions of {ids} is "
            f"{per(f.classes[first] for f in facts)} at epoch {first}")
    if last != first:
        text += f" and {per(f.classes[last] for f in facts)} at epoch {last}"
    text += f" (in their ground truths {per(f.truth_classes for f in facts)})."
    if all(n == 1 for f in facts for n in f.classes.values()):
        text += " Every predicted mask is a single class at every snapshot shown."
    if last != first:
        text += (f" From epoch {first} to {last}, {per(percent(f.changed) for f in facts)} of their pixels change "
                 f"class, and their pixel accuracy goes from {per(fmt(f.accuracy[first], 2) for f in facts)} to "
                 f"{per(fmt(f.accuracy[last], 2) for f in facts)}.")
    return text


# ---- the discussion -----------------------------------------------------------------------------------------

def _verdict(results: Results) -> str:
    """Whether FCN8s beats FCN32s, what the interval covers, and whether the baseline had collapsed."""
    fcn32s, fcn8s = results.model(BASELINE), results.model(IMPROVED)
    diff = results.comparisons[f"{IMPROVED} - {BASELINE}"]
    figures = (f"mIoU {fmt(fcn8s.miou.value)} against {fmt(fcn32s.miou.value)} at {fcn8s.scored_at_px} px "
               f"({diff.value:+.3f}; 95% paired bootstrap interval {interval_text(diff.low, diff.high)})")
    if diff.excludes_zero and diff.value > 0:
        text = f"**FCN8s beats FCN32s** on these validation images: {figures}."
        if fcn32s.collapsed:
            text += (f" But FCN32s has collapsed: it gives {fcn32s.most_predicted.name} "
                     f"{percent(fcn32s.most_predicted.share)} of the pixels, so this difference measures that collapse "
                     "more than what FCN8s adds to a working baseline; FCN16s and the skip ablation below separate "
                     "the two.")
    elif diff.excludes_zero:
        text = f"**FCN8s does not beat FCN32s**: FCN32s is better on these validation images, {figures}."
    else:
        text = (f"**FCN8s and FCN32s cannot be told apart** on these validation images: {figures}; the interval "
                "includes 0.")
    return text + (f" The interval resamples the {fcn8s.val_pairs} validation images, so it covers which images were "
                   "drawn, not training randomness: each model was trained once, with one seed, and another seed "
                   "could move both numbers.")


def _baseline(results: Results) -> str:
    base = results.majority_baseline
    above = [f"{m.display_name} {_shown(m.miou.value) - _shown(base.miou.value):+.3f}" for m in results.models.values()]
    text = (f"Predicting {base.class_name}, the training split's most frequent class, for every pixel scores mIoU "
            f"{fmt(base.miou.value)} {interval_text(base.miou.low, base.miou.high)} (pixel accuracy "
            f"{fmt(base.pixel_accuracy)}; last row of Table 2). Against it: {_listing(above)}.")
    no_better = [m.display_name for m in results.models.values() if m.miou.value - base.miou.value < NO_BETTER]
    if no_better:
        text += f" {_listing(no_better)} {'is' if len(no_better) == 1 else 'are'} no better than that."
    return text


def _geometry(results: Results) -> str:
    fcn32s = results.model(BASELINE)
    sides = [f"{m.display_name} {m.score_map_at_train_px}x{m.score_map_at_train_px}" for m in results.models.values()]
    text = (f"What each model can draw (Table 5): trained at {fcn32s.train_px} px, the finest class-score maps are "
            f"{_listing(sides)} cells per image")
    if fcn32s.scored_at_px != fcn32s.train_px:
        at_scored = [f"{m.score_map_at_scored_px}x{m.score_map_at_scored_px}" for m in results.models.values()]
        text += f"; at {fcn32s.scored_at_px} px they would be {_listing(at_scored)}"
    text += "."
    cells = fcn32s.score_map_at_train_px
    if cells <= COARSE_SCORE_MAP:
        text += (f" FCN32s's {cells}x{cells} map (pool5 is {cells + 1}x{cells + 1} and the reference's 2x2 fc6 takes "
                 f"one off) holds at most {cells * cells} class-score vector{'s' if cells > 1 else ''} per image, "
                 "which its learned upsampling only spreads out: part of the finer models' lead at this size is that "
                 "handicap of the small training images, not only what their skips add at the course's resolution.")
    return text


def _class_shares(results: Results) -> str:
    top = max(results.truth_share, key=results.truth_share.get)
    shares = [f"{m.display_name} {m.most_predicted.name} ({percent(m.most_predicted.share)})"
              for m in results.models.values()]
    text = (f"The ground truth gives {top} {percent(results.truth_share[top])} of the validation pixels; the class "
            f"each model predicts most, and its share: {_listing(shares)} (Table 6 has every class).")
    collapsed = [m for m in results.models.values() if m.collapsed]
    if collapsed:
        names = _listing([f"{m.display_name} to {m.most_predicted.name}" for m in collapsed])
        text += (f" Collapsed (one class for {percent(COLLAPSE_SHARE)} of the pixels or more): {names}; "
                 f"{'its' if len(collapsed) == 1 else 'their'} IoU is near 0 for every other class.")
    return text


def _skips(results: Results) -> str:
    """The inference-time skip ablation: what FCN8s's predictions rely on."""
    fcn8s, fcn32s = results.model(IMPROVED), results.model(BASELINE)
    ablation, full = fcn8s.skip_ablation, fcn8s.miou_at_train_px
    if full is None or not ablation or any(v is None for v in ablation.values()):
        return ""
    full, ablation = _shown(full), {k: _shown(v) for k, v in ablation.items()}
    neither = ablation["pool4+pool3"]
    text = (f"What the skips carry (Table 7): the trained FCN8s scores mIoU {fmt(full)} at {fcn8s.train_px} px with "
            f"both skips, {fmt(ablation['pool3'])} without pool3, {fmt(ablation['pool4'])} without pool4 and "
            f"{fmt(neither)} with neither (its stride-32 path alone), against {fmt(fcn32s.miou_at_train_px)} for the "
            "FCN32s trained as such.")
    if full - neither > NO_BETTER:
        heavier = "pool3" if ablation["pool3"] < ablation["pool4"] else "pool4"
        text += (f" Its predictions rely on the skips (without them it loses {full - neither:.3f}), most on {heavier}, "
                 f"whose removal alone costs {full - ablation[heavier]:.3f}.")
    else:
        text += f" Removing both changes its score by less than {NO_BETTER}: FCN8s barely relies on its skips."
    return text + (" This measures reliance, not benefit: the layers after a skip were trained with it, so "
                   "removing it also shifts their input.")


def _boundaries(results: Results) -> str:
    """Accuracy by distance to a true class boundary, on the prediction grid: where FCN8s gains."""
    fcn8s, fcn32s = results.model(IMPROVED), results.model(BASELINE)
    gains = [(b, gain_at(results, i)) for i, b in enumerate(fcn8s.boundary_profile)]
    gains = [(b, g) for b, g in gains if g is not None]
    if len(gains) < 2:
        return ""
    (near, near_gain), (far, far_gain) = gains[0], gains[-1]
    best, best_gain = max(gains, key=lambda pair: pair[1])
    px, scale = fcn8s.train_px, fcn8s.scored_at_px // fcn8s.train_px
    grid = (f"pixels of the {px} px prediction grid (one of them is {scale}x{scale} pixels of the "
            f"{fcn8s.scored_at_px} px masks)" if scale > 1 else f"pixels at {px} px")
    cell32 = ("one cell for the whole image" if fcn32s.score_map_at_train_px == 1
              else f"cells of about {px // fcn32s.score_map_at_train_px} px")
    text = (f"Boundaries (Table 8), in bands of distance to the nearest ground-truth class boundary counted in {grid}; "
            f"FCN8s's score cells there are {px // fcn8s.score_map_at_train_px} px wide, FCN32s has {cell32}. "
            f"Within {near.label} of a boundary ({percent(near.pixel_share)} of the pixels) FCN8s's pixel accuracy is "
            f"{near_gain:+.3f} against FCN32s's, at {far.label} ({percent(far.pixel_share)}) {far_gain:+.3f}, and its "
            f"largest gain is at {best.label} ({best_gain:+.3f}).")
    if near_gain > far_gain and near_gain > 0:
        text += (" Its lead is largest next to boundaries, where a finer score grid can place the class change: the "
                 "reason the FCN paper gives for its skips shows up here.")
    else:
        text += (" Its lead is not largest next to boundaries, so on this data the skips do not pay off mainly by "
                 "placing boundaries more finely.")
    return text


def _training_length(results: Results) -> str:
    models = list(results.models.values())
    best = _listing([f"{m.display_name} epoch {m.best_epoch} of {m.epochs}" for m in models])
    text = f"Training length: the best validation epoch (at {models[0].train_px} px) is {best}."
    if all(m.best_epoch == m.epochs for m in models):
        text += (" Every model is best at its last epoch (Figure 5): they are undertrained, so the ranking compares "
                 f"how far each got in {models[0].epochs} epochs (how fast it learns) as much as what it could reach; "
                 "longer training could change the gaps.")
    return text


def _per_class(results: Results) -> str:
    fcn32s, fcn8s = results.model(BASELINE), results.model(IMPROVED)
    gains = {c: _shown(fcn8s.per_class_iou[c]) - _shown(fcn32s.per_class_iou[c]) for c in SCORED_NAMES
             if fcn8s.per_class_iou[c] is not None and fcn32s.per_class_iou[c] is not None}
    if not gains or not any(gains.values()):
        return ""
    up, down = max(gains, key=gains.get), min(gains, key=gains.get)
    better = sum(g > MEANINGFUL_GAIN for g in gains.values())
    return (f"Per class (Table 4, FCN8s minus FCN32s IoU) the largest change is {up} ({gains[up]:+.3f}) and the "
            f"smallest {down} ({gains[down]:+.3f}); {better} of {len(gains)} classes improve by more than "
            f"{MEANINGFUL_GAIN}.")


def _why_not(results: Results) -> str:
    """Where FCN8s does not win: the reasons the runs support."""
    fcn8s = results.model(IMPROVED)
    diff = results.comparisons[f"{IMPROVED} - {BASELINE}"]
    if diff.excludes_zero and diff.value > 0:
        return ""
    why = []
    if fcn8s.best_epoch == fcn8s.epochs:
        why.append("FCN8s was still improving at its last epoch, so the run is likely too short for it")
    if _from_scratch(fcn8s):
        why.append("the backbone is trained from scratch: the pool3/pool4 features FCN8s adds carry little meaning "
                   "until the whole VGG16 has learned, whereas the FCN paper starts from ImageNet features; FCN8s also "
                   "adds them unweighted (as the reference prints it), so early noise in pool3 enters the scores "
                   "directly")
    return "Why: " + ("; ".join(why) if why else "neither run length nor weights explains it") + "."


def discussion(results: Results) -> str:
    """The section-5 discussion: why FCN8s is (or is not) better, with the evidence, every number from ``results``."""
    paragraphs = [_verdict(results), _baseline(results), _geometry(results), _class_shares(results),
                  _skips(results), _boundaries(results), _training_length(results), _per_class(results),
                  _why_not(results)]
    return "\n\n".join(p for p in paragraphs if p)
