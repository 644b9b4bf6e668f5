"""Run directories: their layout, reuse / resume / archive decisions, and reading them back.

```
run_dir/
  config.json          {"config": RunConfig fields, "provenance": commit, torch, device, data, weights}
  metrics.jsonl        one line per finished epoch
  checkpoint.pt        latest epoch: model + optimizer + scheduler + history + config (resumable)
  snapshots/epoch_001/0008_mask.png ...   predicted masks of the sample ids, course colours
  model.pt             final weights + config (written when the run finishes)
  summary.json         RunSummary: marks a finished run
  final_scores.npz     per-image confusion matrices of the final model at the masks' own size  } the run's analysis,
  analysis.json        RunAnalysis: skip ablation, boundary profile, analysis code version     } hw_lib.run_analysis
```
A finished run is never deleted: a forced retrain, or a different config in the same
``run_dir``, first renames the old directory to ``<run_dir>.archived-<time>``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, atomic
from .config import RunConfig
from .errors import ConfigError
from .metrics import FinalScores
from .models import MODELS
from .paths import REPO, REPORTS, RUNS
from .runtime import describe_device

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
SUMMARY = "summary.json"
FINAL_SCORES = "final_scores.npz"
ANALYSIS = "analysis.json"
SNAPSHOTS = "snapshots"


def snapshot_path(run_dir: str | Path, epoch: int, sample_id: str) -> Path:
    return Path(run_dir) / SNAPSHOTS / f"epoch_{epoch:03d}" / f"{sample_id}_mask.png"


def git_commit(root: Path | None = None) -> str:
    """The commit of the checkout at ``root`` (default: the one hw_lib runs from), ``+dirty`` when it
    has local changes.

    Changes under ``REPORTS`` do not count: they are this pipeline's own output (the first model's
    executed notebook is rewritten before the second model trains), not a change to the code.

    ``HW_GIT_COMMIT`` overrides it where the code travels without its .git (a GPU machine).
    """
    if os.environ.get("HW_GIT_COMMIT"):
        return os.environ["HW_GIT_COMMIT"]
    root = root or REPO
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        code_only = ["--", ".", f":(exclude){REPORTS}"]
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", *code_only], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def environment(device: torch.device) -> dict[str, str]:
    """Where a run ran: code version, library versions, device."""
    import torchvision

    return {"git_commit": git_commit(), "hw_lib": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision.__version__, "device": describe_device(device),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _archive(run_dir: Path, reason: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.archived-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = run_dir.with_name(f"{run_dir.name}.archived-{stamp}-{n}")
    run_dir.rename(target)
    print(f"{run_dir}: {reason}; the previous run is kept in {target}")
    return target


def run_state(config: RunConfig, data_fingerprint: str, force: bool = False) -> str:
    """What training ``config`` would do with its run_dir, without touching it.

    ``"new"`` (empty or absent), ``"finished"`` (a finished run with the same config, see
    ``RunConfig.identity``, and data: reused unless ``force``), ``"resume"`` (the same run,
    unfinished), or ``"replace"`` (another run, or ``force``: archived, then a new run).
    """
    run_dir = Path(config.run_dir)
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return "new"
    if not (run_dir / CONFIG).is_file():
        raise ConfigError(f"run_dir: {run_dir} exists and is not a run directory (no {CONFIG}); "
                          "choose another run_dir")
    try:
        stored = json.loads((run_dir / CONFIG).read_text())
        same = (RunConfig.from_dict(stored["config"]).identity() == config.identity()
                and stored["provenance"].get("data_fingerprint") == data_fingerprint)
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{run_dir / CONFIG}: unreadable ({e}); move the folder away or choose another "
                          "run_dir") from None
    finished = (run_dir / SUMMARY).is_file()
    if same and finished:
        return "replace" if force else "finished"
    if same:
        return "resume" if (run_dir / CHECKPOINT).is_file() else "new"
    return "replace"


def open_run_dir(config: RunConfig, data_fingerprint: str, force: bool = False) -> str:
    """Prepare ``config.run_dir`` as :func:`run_state` decides; returns ``"new"``, ``"resume"`` or ``"finished"``.

    A run directory to replace is renamed to ``<run_dir>.archived-<time>`` first, never deleted.
    """
    run_dir = Path(config.run_dir)
    state = run_state(config, data_fingerprint, force)
    if state == "replace":
        _archive(run_dir, "forced retrain" if force else "its config or data differs from this run's")
        return "new"
    if state == "resume":
        for leftover in run_dir.glob(".*.tmp"):  # partial writes of a killed run
            leftover.unlink()
    return state


@dataclass(frozen=True)
class RunSummary:
    """``summary.json``, written when training ends: it marks the run finished. What a finished run scored
    is its analysis (:mod:`hw_lib.run_analysis`), computed from ``model.pt`` and kept apart, so that it
    can be computed again without training again."""

    model: str
    epochs: int
    finished: str = ""  # when (older runs: "")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSummary:
        """Also reads the summaries of older versions, which held the analysis too (it is ignored)."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})


def save_final_scores(path: str | Path, final: FinalScores) -> None:
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, ids=np.array(final.ids), per_image=final.per_image, side=final.side)


def load_final_scores(path: str | Path) -> FinalScores:
    with np.load(path) as f:
        return FinalScores([str(i) for i in f["ids"]], f["per_image"], int(f["side"]))


@dataclass
class Run:
    """A run directory read back: config, provenance, per-epoch metrics and, once finished, summary."""

    path: Path
    config: dict[str, Any]
    provenance: dict[str, Any]
    history: list[dict[str, Any]]
    summary: RunSummary | None

    @classmethod
    def load(cls, path: str | Path) -> Run:
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise ConfigError(f"{path}: not a run directory (no {CONFIG}); train it first")
        stored = json.loads((path / CONFIG).read_text())
        metrics = path / METRICS
        history = [json.loads(line) for line in metrics.read_text().splitlines() if line] if metrics.exists() else []
        summary = None
        if (path / SUMMARY).exists():
            try:
                summary = RunSummary.from_dict(json.loads((path / SUMMARY).read_text()))
            except (TypeError, KeyError) as e:
                raise ConfigError(f"{path / SUMMARY}: unreadable ({e}); train the run again (force=True)") from None
        return cls(path, stored["config"], stored["provenance"], history, summary)

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def model(self) -> str:
        return self.config["model"]

    def snapshot(self, epoch: int, sample_id: str) -> Path:
        return snapshot_path(self.path, epoch, sample_id)

    @property
    def train_px(self) -> int:
        """The side of the images it trained on (the data's own where ``image_size`` is None)."""
        return self.provenance["image_size"]

    @property
    def precision(self) -> str:
        """The run's precision, e.g. ``fp16``; ``bf16 then fp16`` for a run resumed in another one."""
        first = self.provenance["precision"]
        seen = [first] + [r.get("precision", first) for r in self.provenance.get("resumed", [])]
        return " then ".join(p for i, p in enumerate(seen) if i == 0 or p != seen[i - 1])

    @property
    def final_miou_at_train_px(self) -> float | None:
        return self.history[-1]["miou"] if self.history else None

    @property
    def best(self) -> dict[str, Any]:
        """The epoch's metrics row with the best validation mIoU (the last one where none is defined)."""
        scored = [r for r in self.history if r["miou"] is not None]
        return max(scored, key=lambda r: r["miou"]) if scored else self.history[-1]

    @property
    def wall_seconds(self) -> float:
        """Training and per-epoch validation, summed over the epochs."""
        return round(sum(self.column("seconds")), 2)

    @property
    def train_images_per_second(self) -> float:
        return round(sum(self.column("train_images")) / sum(self.column("train_seconds")), 2)

    def column(self, key: str) -> list[Any]:
        """One metric over the epochs, e.g. ``run.column("miou")``."""
        return [row[key] for row in self.history]


def latest_runs_dir(preset: str, root: str | Path = REPO / RUNS, models: tuple[str, ...] = tuple(MODELS)) -> Path:
    """The newest ``runs/<preset>-<source>`` folder whose runs of ``models`` have all finished."""
    candidates = []
    for folder in Path(root).glob(f"{preset}-*"):
        summaries = [folder / m / SUMMARY for m in models]
        if all(p.is_file() for p in summaries):
            candidates.append((max(p.stat().st_mtime for p in summaries), folder))
    if not candidates:
        raise ConfigError(f"no finished runs of the {preset} preset in {Path(root) / (preset + '-*')}: run "
                          f"./run_all.sh{'' if preset == 'demo' else f' with PRESET={preset}'} first (or train "
                          "fcn32s, fcn16s and fcn8s with notebooks/train.ipynb)")
    return max(candidates)[1]
