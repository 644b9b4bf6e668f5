"""Train one model into a run directory: ``fit(config)`` or ``python -m hw_lib.train``.

Each epoch is seeded from ``(seed, epoch)`` and the checkpoint is written atomically at its
end, so a killed run, started again with the same command, resumes after the last completed
epoch and (on the CPU) ends with exactly the numbers of an uninterrupted run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from . import atomic
from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .cli import run_cli
from .colors import labels_to_rgb
from .config import RunConfig, add_config_arguments, config_from_args
from .data import Split, find_pairs, fingerprint, load_split, split_dirs
from .engine import (EpochStats, NonFiniteLoss, Runtime, class_weights, evaluate, make_optimizer, make_scheduler,
                     seconds_to_text, train_one_epoch)
from .errors import ConfigError, TrainingError
from .metrics import BandAccuracy, FinalScores, Scores, band_accuracy, band_width, boundary_band
from .models import FCN, build_model
from .runs import (CHECKPOINT, CONFIG, FINAL_SCORES, METRICS, MODEL, SUMMARY, Run, environment, open_run_dir,
                   snapshot_path)
from .scoring import score_folder
from .synth import is_synthetic

def load_data(config: RunConfig, log: Callable[[str], None] = print) -> tuple[Split, Split]:
    """The training split and the validation split (which always keeps the sample ids)."""
    train_dir, val_dir = split_dirs(config.data_dir)
    val_ids = [p.id for p in find_pairs(val_dir)]
    missing = [i for i in config.sample_ids if i not in val_ids]
    if missing:
        raise ConfigError(f"sample_ids: {', '.join(missing)} not in {val_dir}")
    if config.val_limit is not None:
        kept = val_ids[: config.val_limit]
        val_ids = kept + [i for i in config.sample_ids if i not in kept]
    train = load_split(train_dir, config.image_size, limit=config.train_limit)
    val = load_split(val_dir, config.image_size, ids=val_ids)
    side = min(train.labels.shape[-2:])
    if config.crop_size is not None and config.crop_size > side:
        raise ConfigError(f"crop_size: {config.crop_size} is larger than the {side} px training images of {train_dir}")
    for split in (train, val):
        note = split.off_palette_note()
        if note:
            log(f"note: {note}")
    return train, val


def _seed_epoch(seed: int, epoch: int) -> torch.Generator:
    """Seed dropout (global RNG) and return the shuffling/augmentation generator of one epoch."""
    value = seed * 1_000_003 + epoch
    torch.manual_seed(value)
    return torch.Generator().manual_seed(value)


def _save_snapshots(run_dir: Path, epoch: int, val: Split, pred: torch.Tensor, sample_ids: list[str]) -> None:
    for sample_id in sample_ids:
        labels = pred[val.ids.index(sample_id)].cpu().numpy()
        with atomic.atomic_path(snapshot_path(run_dir, epoch, sample_id)) as tmp:
            Image.fromarray(labels_to_rgb(labels)).save(tmp, format="PNG")


def _summary(config: RunConfig, history: list[dict], provenance: dict, final: FinalScores) -> dict:
    """summary.json: the final score at the masks' own size, the per-epoch figures at the training size."""
    scored = [r for r in history if r["miou"] is not None]
    best = max(scored, key=lambda r: r["miou"]) if scored else history[-1]
    train_seconds = sum(r["train_seconds"] for r in history)
    scores = final.scores
    return {
        "model": config.model, "epochs": len(history),
        "scored_at_px": final.side, "final_miou": _rounded(scores.miou), "final_iou": _rounded(scores.per_class()),
        "final_pixel_accuracy": _rounded(scores.pixel_accuracy), "boundary_accuracy": _rounded(final.band.boundary),
        "interior_accuracy": _rounded(final.band.interior), "band_width_px": band_width(final.side),
        "boundary_fraction": _rounded(final.band.boundary_fraction),
        "confusion": final.per_image.sum(0).tolist(), "scored_images": len(final.ids),
        "train_px": provenance["image_size"], "final_miou_at_train_px": history[-1]["miou"],
        "best_miou_at_train_px": best["miou"], "best_epoch": best["epoch"],
        "wall_seconds": round(sum(r["seconds"] for r in history), 2),
        "train_images_per_second": round(sum(r["train_images"] for r in history) / train_seconds, 2),
        "device": provenance["device"], "precision": provenance["precision"],
        "weights": provenance["weights"], "data_source": provenance["data_source"],
    }


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _rounded(value: Any) -> Any:
    """Floats rounded to 6 digits and NaN as None (JSON), inside dicts too."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if value is None or np.isnan(value):
        return None
    return round(float(value), 6)


def _epoch_record(epoch: int, stats: EpochStats, scores: Scores, band: BandAccuracy, lr: float, seconds: float) -> dict:
    """One line of metrics.jsonl (NaN written as null)."""
    return {
        "epoch": epoch, "train_loss": round(stats.loss, 6), "miou": _rounded(scores.miou),
        "iou": _rounded(scores.per_class()),
        "pixel_accuracy": round(scores.pixel_accuracy, 6), "boundary_accuracy": round(band.boundary, 6),
        "interior_accuracy": round(band.interior, 6), "lr": lr,
        "train_seconds": round(stats.seconds, 3), "train_images": stats.images, "seconds": round(seconds, 3),
    }


def _provenance(config: RunConfig, runtime: Runtime, model: FCN, train: Split, val: Split, data_fingerprint: str) -> dict:
    return {
        **environment(runtime.device), "precision": runtime.precision,
        "data_source": "synthetic" if is_synthetic(config.data_dir) else "real",
        "data_dir": config.data_dir, "data_fingerprint": data_fingerprint,
        "train_pairs": len(train), "val_pairs": len(val), "image_size": int(train.images.shape[-1]),
        "crop_size": config.crop_size,
        "weights": model.backbone_weights,
    }


def _resume(run_dir: Path, config: RunConfig, model: FCN, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, runtime: Runtime) -> tuple[list[dict], dict]:
    """Restore the last completed epoch; returns the history so far and the run's provenance."""
    ckpt = load_checkpoint(run_dir / CHECKPOINT, expected_model=config.model)
    load_weights(model, ckpt["model"], run_dir / CHECKPOINT)
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    provenance = Run.load(run_dir).provenance
    now = environment(runtime.device)
    provenance.setdefault("resumed", []).append(
        {"after_epoch": ckpt["epoch"], **{k: now[k] for k in ("device", "started", "git_commit")}})
    return ckpt["history"], provenance


def fit(config: RunConfig, force: bool = False, progress: bool = True, log: Callable[[str], None] = print) -> Run:
    """Train ``config.model`` into ``config.run_dir``; reuse a finished identical run unless ``force``.

    After the last epoch the model is scored at the masks' own size (:mod:`hw_lib.scoring`):
    ``final_scores.npz`` (per image) and ``summary.json`` (which marks the run finished).
    """
    config = config.validate()
    if not isinstance(force, bool):
        raise ConfigError(f"force: expected bool, got {force!r} ({type(force).__name__})")
    run_dir = Path(config.run_dir)
    data_fingerprint = fingerprint(config.data_dir)
    state = open_run_dir(config, data_fingerprint, force)
    if state == "finished":
        log(f"{run_dir}: a finished run with the same config exists; reused (force=True retrains)")
        return Run.load(run_dir)

    runtime = Runtime.create(config.device, config.precision)
    train, val = load_data(config, log)
    torch.manual_seed(config.seed)
    model = runtime.prepare(build_model(config.model, config.weights))
    step_model = torch.compile(model) if config.compile else model
    steps = max(1, len(train) // config.batch_size)
    optimizer = make_optimizer(model, config.optimizer, config.lr, config.weight_decay)
    scheduler = make_scheduler(optimizer, config.schedule, config.lr, config.epochs * steps)
    loss_weights = class_weights(train.labels, config.class_weighting)
    if state == "resume":
        history, provenance = _resume(run_dir, config, model, optimizer, scheduler, runtime)
        log(f"{run_dir}: resuming after epoch {len(history)} of {config.epochs}")
    else:
        history = []
        provenance = _provenance(config, runtime, model, train, val, data_fingerprint)
        log(f"{run_dir}: training {config.model} on {len(train)} {provenance['data_source']} pairs, "
            f"{provenance['image_size']} px, {config.epochs} epochs, {provenance['device']}, {runtime.precision}; "
            f"backbone weights: {model.backbone_weights}")
    atomic.write_json(run_dir / CONFIG, {"config": config.to_dict(), "provenance": provenance})
    atomic.write_jsonl(run_dir / METRICS, history)

    train, val = train.to(runtime.device), val.to(runtime.device)
    if loss_weights is not None:
        loss_weights = loss_weights.to(runtime.device)
    side = int(val.labels.shape[-1])
    boundary = boundary_band(val.labels, band_width(side))
    bar = tqdm(total=config.epochs * steps, initial=len(history) * steps, unit="step", disable=not progress,
               dynamic_ncols=True, file=sys.stderr)
    for epoch in range(len(history) + 1, config.epochs + 1):
        generator = _seed_epoch(config.seed, epoch)
        done_before = bar.n

        def on_progress(done: int, loss: float) -> None:
            bar.update(done_before + done - bar.n)
            bar.set_postfix(epoch=epoch, loss=f"{loss:.4f}")

        started = time.perf_counter()
        try:
            stats = train_one_epoch(step_model, train, optimizer, scheduler, runtime, config.batch_size, generator,
                                    epoch, config.augment, loss_weights, config.crop_size,
                                    on_progress=on_progress)
        except NonFiniteLoss as e:
            bar.close()
            kept = f"the last good checkpoint ({run_dir / CHECKPOINT}, epoch {epoch - 1}) is kept" if epoch > 1 \
                else "no epoch had finished, so there is no checkpoint"
            raise TrainingError(f"{e}; training stopped and {kept}. Lower lr (now {config.lr}) and train again") from None
        matrix, pred = evaluate(step_model, val, runtime)
        scores, band = matrix.compute(), band_accuracy(pred, val.labels, boundary)
        if epoch in config.snapshot_epochs:
            _save_snapshots(run_dir, epoch, val, pred, config.sample_ids)
        seconds = time.perf_counter() - started
        history.append(_epoch_record(epoch, stats, scores, band, scheduler.get_last_lr()[0], seconds))
        save_checkpoint(run_dir / CHECKPOINT, model, config, epoch, extra={
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "history": history})
        atomic.write_jsonl(run_dir / METRICS, history)
        line = (f"epoch {epoch:>3}/{config.epochs}  loss {stats.loss:.4f}  val mIoU {scores.miou:.4f}  "
                f"acc {scores.pixel_accuracy:.4f}  {seconds:.1f}s  ETA {seconds_to_text(seconds * (config.epochs - epoch))}")
        if progress:
            bar.write(line)
        else:
            log(line)
    bar.close()

    save_checkpoint(run_dir / MODEL, model, config, config.epochs)
    log(f"{run_dir}: scoring the final model on {len(val)} validation images at their own size, as predict + evaluate")
    final = score_folder(model, val.root, val.ids, runtime, config.image_size)
    final.save(run_dir / FINAL_SCORES)
    summary = _summary(config, history, provenance, final)
    atomic.write_json(run_dir / SUMMARY, summary)
    log(f"{run_dir}: done, final mIoU {_text(summary['final_miou'])} at {final.side} px "
        f"({_text(summary['final_miou_at_train_px'])} at the training size, {summary['train_px']} px), "
        f"{seconds_to_text(summary['wall_seconds'])}")
    return Run.load(run_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.train", description="Train one FCN into a run directory.")
    add_config_arguments(parser)
    parser.add_argument("--force", action="store_true", help="retrain even if a finished identical run exists")
    parser.add_argument("--no-progress", action="store_true", help="epoch lines only, no progress bar")
    args = parser.parse_args(argv)
    fit(config_from_args(args), force=args.force, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
