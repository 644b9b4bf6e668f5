"""Train one model into a run directory: ``fit(config)`` or ``python -m hw_lib.train``.

Each epoch is seeded from ``(seed, epoch)`` and the checkpoint is written atomically at its
end (with the float16 gradient scaler's state), so a killed run, started again with the same
command, resumes after the last completed epoch and (on the CPU) ends with exactly the numbers of
an uninterrupted run. Running out of memory stops a run with one line that says what to change
(:mod:`hw_lib.memory`); the checkpoint of the last finished epoch stays.
"""
from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from . import atomic, run_analysis
from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .cli import add_config_arguments, config_from_args, parse_set, run_cli
from .colors import NUM_CLASSES, labels_to_rgb
from .config import RunConfig, check_bool
from .data import Split, data_source, fingerprint, load_split, split_dirs, validation_ids
from .engine import (
    PREDICT_BATCH,
    Batches,
    EpochStats,
    NonFiniteLoss,
    Optimization,
    class_weights,
    make_optimization,
    predict_split,
    steps_per_epoch,
    train_one_epoch,
)
from .errors import ConfigError, TrainingError
from .memory import out_of_memory_message
from .metrics import COLLAPSE_SHARE, FinalScores, Scores, most_predicted
from .models import DISPLAY_NAMES, FCN, build_model
from .runs import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    MODEL,
    SUMMARY,
    Run,
    RunSummary,
    environment,
    open_run_dir,
    run_state,
    snapshot_path,
)
from .runtime import Runtime

Log = Callable[[str], None]
T = TypeVar("T")


def load_data(config: RunConfig, log: Log = print) -> tuple[Split, Split]:
    """The training split and the validation split (which always keeps the sample ids)."""
    train_dir, val_dir = split_dirs(config.data_dir)
    val_ids = validation_ids(val_dir, config.sample_ids, config.val_limit)
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


def seconds_to_text(seconds: float) -> str:
    """``75.4`` -> ``1m15s``; ``?`` when not finite."""
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _seed_epoch(seed: int, epoch: int) -> torch.Generator:
    """Seed dropout (global RNG) and return the shuffling/augmentation generator of one epoch."""
    value = seed * 1_000_003 + epoch
    torch.manual_seed(value)
    return torch.Generator().manual_seed(value)


def _rounded(value: Any) -> Any:
    """Floats rounded to 6 digits and NaN as None (JSON), inside dicts too."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if value is None or np.isnan(value):
        return None
    return round(float(value), 6)


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@dataclass
class Training:
    """A run being trained: its config, where it computes, the model, the data, and what is done so far."""

    config: RunConfig
    runtime: Runtime
    model: FCN
    step_model: torch.nn.Module  # the model, or its torch.compile'd wrapper
    optim: Optimization
    batches: Batches
    train: Split
    val: Split
    history: list[dict[str, Any]]
    provenance: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)


def _provenance(config: RunConfig, runtime: Runtime, model: FCN, train: Split, val: Split,
                data_fingerprint: str) -> dict[str, Any]:
    return {
        **environment(runtime.device), "precision": runtime.precision,
        "data_source": data_source(config.data_dir), "data_dir": config.data_dir, "data_fingerprint": data_fingerprint,
        "train_pairs": len(train), "val_pairs": len(val), "image_size": int(train.images.shape[-1]),
        "crop_size": config.crop_size, "weights": model.backbone_weights,
        "train_class_pixels": torch.bincount(train.labels.reshape(-1).long(), minlength=NUM_CLASSES).tolist(),
    }


def _resume(training: Training) -> None:
    """Restore the last completed epoch into ``training``: weights, optimizer, schedule, gradient scaler,
    history. A run resumed in another precision (``auto`` on another card) starts a fresh scaler or drops it."""
    path = training.run_dir / CHECKPOINT
    ckpt = load_checkpoint(path, expected_model=training.config.model)
    load_weights(training.model, ckpt["model"], path)
    training.optim.optimizer.load_state_dict(ckpt["optimizer"])
    training.optim.scheduler.load_state_dict(ckpt["scheduler"])
    if training.optim.scaler is not None and ckpt.get("scaler"):
        training.optim.scaler.load_state_dict(ckpt["scaler"])
    training.history = ckpt["history"]
    training.provenance = Run.load(training.run_dir).provenance
    now = environment(training.runtime.device)
    training.provenance.setdefault("resumed", []).append(
        {"after_epoch": ckpt["epoch"], **{k: now[k] for k in ("device", "started", "git_commit")},
         "precision": training.runtime.precision})


def _within_memory(training: Training, phase: str, epoch: int, side: int, call: Callable[[], T]) -> T:
    """``call()``; running out of memory in it stops the run with one line (``memory.out_of_memory_message``)."""
    try:
        return call()
    except torch.OutOfMemoryError:
        pass  # raised outside the handler: the failed frames, and the memory they hold, are let go
    raise TrainingError(out_of_memory_message(phase, epoch, training.config, side, training.runtime,
                                              training.run_dir / CHECKPOINT, PREDICT_BATCH))


def _start(config: RunConfig, data_fingerprint: str, force: bool, log: Log) -> Training:
    """Data, model (its weights loaded before anything is written) and optimizer; a new or resumed run."""
    runtime = Runtime.create(config.device, config.precision)
    train, val = load_data(config, log)
    torch.manual_seed(config.seed)
    model = runtime.prepare(build_model(config.model, config.weights))
    state = open_run_dir(config, data_fingerprint, force)
    provenance = _provenance(config, runtime, model, train, val, data_fingerprint)
    train, val = train.to(runtime.device), val.to(runtime.device)
    optim = make_optimization(model, config.optimizer, config.lr, config.weight_decay, config.schedule,
                              config.epochs * steps_per_epoch(len(train), config.batch_size),
                              config.backbone_lr_scale, scaler=runtime.grad_scaler())
    batches = Batches(config.batch_size, config.augment, config.crop_size,
                      class_weights(train.labels, config.class_weighting))
    training = Training(config, runtime, model, torch.compile(model) if config.compile else model, optim, batches,
                        train, val, history=[], provenance=provenance)
    if state == "resume":
        _resume(training)
        log(f"{config.run_dir}: resuming after epoch {len(training.history)} of {config.epochs} on "
            f"{runtime.describe()}")
    else:
        log(f"{config.run_dir}: training {DISPLAY_NAMES[config.model]} on {len(train)} {provenance['data_source']} "
            f"pairs, {provenance['image_size']} px, {config.epochs} epochs, {runtime.describe()}; backbone weights: "
            f"{model.backbone_weights}")
    atomic.write_json(training.run_dir / CONFIG, {"config": config.to_dict(), "provenance": training.provenance})
    atomic.write_jsonl(training.run_dir / METRICS, training.history)
    return training


def _save_snapshots(run_dir: Path, epoch: int, val: Split, pred: torch.Tensor, sample_ids: list[str]) -> None:
    for sample_id in sample_ids:
        labels = pred[val.ids.index(sample_id)].cpu().numpy()
        with atomic.atomic_path(snapshot_path(run_dir, epoch, sample_id)) as tmp:
            Image.fromarray(labels_to_rgb(labels)).save(tmp, format="PNG")


def _epoch_record(epoch: int, stats: EpochStats, scores: Scores, lr: float, seconds: float) -> dict[str, Any]:
    """One line of metrics.jsonl (NaN written as null)."""
    return {
        "epoch": epoch, "train_loss": round(stats.loss, 6), "miou": _rounded(scores.miou),
        "iou": _rounded(scores.per_class()), "pixel_accuracy": round(scores.pixel_accuracy, 6), "lr": lr,
        "train_seconds": round(stats.seconds, 3), "train_images": stats.images, "seconds": round(seconds, 3),
    }


def _train_epoch(training: Training, epoch: int, on_progress: Callable[[int, float], None]) -> str:
    """Train, validate, snapshot and checkpoint one epoch; returns its log line."""
    config, started = training.config, time.perf_counter()
    side = training.provenance["image_size"]
    try:
        stats = _within_memory(training, "training", epoch, config.crop_size or side, lambda: train_one_epoch(
            training.step_model, training.train, training.batches, training.optim, training.runtime,
            _seed_epoch(config.seed, epoch), epoch, on_progress=on_progress))
    except NonFiniteLoss as e:
        kept = (f"the last good checkpoint ({training.run_dir / CHECKPOINT}, epoch {epoch - 1}) is kept" if epoch > 1
                else "no epoch had finished, so there is no checkpoint")
        fp16 = " or use precision=fp32 (float16 ends at 65504)" if training.runtime.precision == "fp16" else ""
        raise TrainingError(f"{e}; training stopped and {kept}. Lower lr (now {config.lr}){fp16} and train "
                            "again") from None
    matrix, pred = _within_memory(training, "validation", epoch, side,
                                  lambda: predict_split(training.step_model, training.val, training.runtime))
    scores = matrix.compute()
    if epoch in config.snapshot_epochs:
        _save_snapshots(training.run_dir, epoch, training.val, pred, config.sample_ids)
    seconds = time.perf_counter() - started
    training.history.append(_epoch_record(epoch, stats, scores, training.optim.lr, seconds))
    scaler = training.optim.scaler
    save_checkpoint(training.run_dir / CHECKPOINT, training.model, config, epoch, extra={
        "optimizer": training.optim.optimizer.state_dict(), "scheduler": training.optim.scheduler.state_dict(),
        "history": training.history, **({"scaler": scaler.state_dict()} if scaler is not None else {})})
    atomic.write_jsonl(training.run_dir / METRICS, training.history)
    skipped = f"  {stats.skipped} float16 steps skipped (loss overflow)" if stats.skipped else ""
    return (f"epoch {epoch:>3}/{config.epochs}  loss {stats.loss:.4f}  val mIoU {scores.miou:.4f}  "
            f"acc {scores.pixel_accuracy:.4f}  {seconds:.1f}s  "
            f"ETA {seconds_to_text(seconds * (config.epochs - epoch))}{skipped}")


def _show_progress(bar: tqdm, epoch: int, done_before: int, done: int, loss: float) -> None:
    bar.update(done_before + done - bar.n)
    bar.set_postfix(epoch=epoch, loss=f"{loss:.4f}")


def _train_epochs(training: Training, progress: bool, log: Log) -> None:
    config = training.config
    steps = steps_per_epoch(len(training.train), config.batch_size)
    bar = tqdm(total=config.epochs * steps, initial=len(training.history) * steps, unit="step", disable=not progress,
               dynamic_ncols=True, file=sys.stderr)
    with bar:
        for epoch in range(len(training.history) + 1, config.epochs + 1):
            line = _train_epoch(training, epoch, functools.partial(_show_progress, bar, epoch, bar.n))
            if progress:
                bar.write(line)
            else:
                log(line)


def _finish(training: Training, log: Log) -> Run:
    """model.pt and summary.json (which marks the run finished), then the run's analysis."""
    config, run_dir = training.config, training.run_dir
    save_checkpoint(run_dir / MODEL, training.model, config, config.epochs)
    finished = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    atomic.write_json(run_dir / SUMMARY, RunSummary(config.model, len(training.history), finished).to_dict())
    return Run.load(run_dir)


def _report_final(run: Run, final: FinalScores, log: Log) -> None:
    """The run's final score (from its analysis) and a warning where the model predicts (nearly) one class."""
    log(f"{run.path}: done, final mIoU {_text(_rounded(final.scores.miou))} at {final.side} px "
        f"({_text(run.final_miou_at_train_px)} at the training size, {run.train_px} px), "
        f"{seconds_to_text(run.wall_seconds)}")
    top = most_predicted(final.per_image.sum(0))
    if top.share >= COLLAPSE_SHARE:
        log(f"warning: {DISPLAY_NAMES[run.model]} predicts {top.name} for {top.share:.1%} of the validation "
            "pixels: it has collapsed to (nearly) one class")


def fit(config: RunConfig, force: bool = False, progress: bool = True, log: Log = print) -> Run:
    """Train ``config.model`` into ``config.run_dir``; reuse a finished identical run unless ``force``.

    After the last epoch ``model.pt`` and ``summary.json`` (which marks the run finished) are written, then
    the run is analysed (:mod:`hw_lib.run_analysis`: its final score at the masks' own size, as predict +
    evaluate give it, and the report's analyses), here and for a reused run whose analysis is stale.
    """
    config = config.validate()
    check_bool("force", force)
    data_fingerprint = fingerprint(config.data_dir)
    if run_state(config, data_fingerprint, force) == "finished":
        log(f"{config.run_dir}: a finished run with the same config exists; reused (force=True retrains)")
        run = Run.load(config.run_dir)
        _, final = run_analysis.current(run, config.data_dir, log=log)  # analysed again only where stale
    else:
        training = _start(config, data_fingerprint, force, log)
        _train_epochs(training, progress, log)
        run = _finish(training, log)
        _, final = _within_memory(training, "final scoring", config.epochs, run.train_px,
                                  lambda: run_analysis.current(run, config.data_dir, log=log))
    _report_final(run, final, log)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.train", description="Train one FCN into a run directory.")
    add_config_arguments(parser)
    parser.add_argument("--force", action="store_true", help="retrain even if a finished identical run exists")
    parser.add_argument("--no-progress", action="store_true", help="epoch lines only, no progress bar")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="run parameters as the pipeline's --set takes them (epochs=5 snapshot_epochs=[1,5]), "
                        "over the flags")
    args = parser.parse_args(argv)
    fit(config_from_args(args, parse_set(args.set)), force=args.force, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
