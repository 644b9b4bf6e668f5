"""A finished run's analysis, a step of its own after training: ``python -m hw_lib.run_analysis RUN_DIR...``.

It reads the run's ``model.pt`` and the validation data and writes beside the run what the report
needs beyond the per-epoch metrics: the final scores as predict + evaluate give them
(``final_scores.npz``, per image at the masks' own size), and ``analysis.json`` (the final model's
mIoU at the training size, the skip ablation and the accuracy by distance to a class boundary).
``analysis.json`` records :data:`VERSION`, a hash of the code that computes it, so a report made
after that code changed analyses the run again, without retraining it (:func:`current`).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic, metrics, scoring
from .checkpoint import model_from_checkpoint
from .cli import run_cli
from .config import RunConfig
from .data import Split, fingerprint, load_split, split_dirs, validation_ids
from .engine import predict_split
from .errors import ConfigError
from .metrics import DistanceBin, FinalScores, accuracy_by_boundary_distance
from .models import FCN
from .paths import display_path
from .runs import ANALYSIS, FINAL_SCORES, MODEL, Run, load_final_scores, save_final_scores
from .runtime import Runtime

Log = Callable[[str], None]


def _code_hash() -> str:
    """A hash of the modules whose code decides the analysis' numbers: this one, scoring and metrics."""
    digest = hashlib.sha256()
    for module in (sys.modules[__name__], scoring, metrics):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


#: the analysis code's hash; a stored analysis of another version is computed again
VERSION = _code_hash()


@dataclass(frozen=True)
class RunAnalysis:
    """``analysis.json``: what the final model of a run does on the validation split. ``miou_at_train_px``,
    the skip ablation and the boundary profile are at the training size (the prediction grid); the final
    scores (``final_scores.npz``) at the masks' own size, ``scored_at_px``."""

    version: str
    device: str
    precision: str
    scored_at_px: int
    scored_images: int
    miou_at_train_px: float | None
    skip_ablation: dict[str, float | None]  # mIoU at the training size with these skips left out ("pool3", ...)
    boundary_profile: list[DistanceBin]  # accuracy by distance to a true class boundary, at the training size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunAnalysis:
        return cls(**{**values, "boundary_profile": [DistanceBin(**b) for b in values["boundary_profile"]]})


def _rounded(value: float) -> float | None:
    return None if value != value else round(float(value), 6)  # NaN (an undefined mIoU) as None


def skip_ablation(model: FCN, val: Split, runtime: Runtime) -> dict[str, float | None]:
    """Validation mIoU with each set of skips left out at inference (FCN16s: pool4; FCN8s: pool3, pool4,
    both), keyed ``"pool3"``, ``"pool4"``, ``"pool4+pool3"``."""
    skips = model.SKIPS
    drops = [(skip,) for skip in reversed(skips)] + ([skips] if len(skips) > 1 else [])
    return {"+".join(drop): _rounded(predict_split(model, val, runtime, drop=drop)[0].compute().miou)
            for drop in drops}


def analyse(run: Run, data_dir: str | Path | None = None, log: Log = print) -> RunAnalysis:
    """Compute and write the analysis of the finished ``run`` from its ``model.pt`` and the validation
    data in ``data_dir`` (default: where the run was trained), which must be the data it was trained on."""
    if not run.finished:
        raise ConfigError(f"{run.path}: the run is unfinished; train it first")
    data_dir = Path(data_dir or run.provenance["data_dir"])
    if fingerprint(data_dir) != run.provenance["data_fingerprint"]:
        raise ConfigError(f"{data_dir}: not the data {run.path} was trained on (their fingerprints differ); "
                          "give the folder it was trained with")
    model, _ = model_from_checkpoint(run.path / MODEL, run.model)
    config = RunConfig.from_dict(run.config)
    runtime = Runtime.create()
    model = runtime.prepare(model)
    _, val_dir = split_dirs(data_dir)
    log(f"{display_path(run.path)}: analysing the final model on {val_dir} (final scores at the masks' own size, "
        "as predict + evaluate)")
    ids = validation_ids(val_dir, config.sample_ids, config.val_limit)
    val = load_split(val_dir, config.image_size, ids=ids).to(runtime.device)
    final = scoring.score_folder(model, val_dir, val.ids, runtime, config.image_size)
    matrix, pred = predict_split(model, val, runtime)
    result = RunAnalysis(
        version=VERSION, device=str(runtime.device), precision=runtime.precision, scored_at_px=final.side,
        scored_images=len(final.ids), miou_at_train_px=_rounded(matrix.compute().miou),
        skip_ablation=skip_ablation(model, val, runtime),
        boundary_profile=accuracy_by_boundary_distance(pred, val.labels))
    save_final_scores(run.path / FINAL_SCORES, final)
    atomic.write_json(run.path / ANALYSIS, result.to_dict())
    return result


def stored(run: Run) -> RunAnalysis | None:
    """The analysis written beside ``run``, or None when there is none or it cannot be read."""
    path = run.path / ANALYSIS
    if not path.is_file() or not (run.path / FINAL_SCORES).is_file():
        return None
    try:
        return RunAnalysis.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError):
        return None


def current(run: Run, data_dir: str | Path | None = None, log: Log = print,
            force: bool = False) -> tuple[RunAnalysis, FinalScores]:
    """The run's analysis and final scores, computed again where they are missing or of another
    :data:`VERSION` (or ``force``). A stale analysis of a run without ``model.pt`` (runs brought back
    from a GPU without their weights) is kept, with a warning."""
    found = stored(run)
    if force or found is None or found.version != VERSION:
        if (run.path / MODEL).is_file():
            found = analyse(run, data_dir, log=log)
        elif found is None:
            raise ConfigError(f"{run.path}: no analysis and no {MODEL} to compute it from; train the run again")
        else:
            log(f"warning: {display_path(run.path)}: its analysis is of version {found.version}, not {VERSION}, and "
                f"without {MODEL} it cannot be computed again; the stored one is used")
    return found, load_final_scores(run.path / FINAL_SCORES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.run_analysis", description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run directories")
    parser.add_argument("--data-dir", default=None, help="the data they were trained on (default: the recorded one)")
    parser.add_argument("--force", action="store_true", help="analyse again even where the analysis is current")
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        run = Run.load(run_dir)
        found, final = current(run, args.data_dir, force=args.force)
        print(f"{display_path(run.path)}: mIoU {final.scores.miou:.4f} at {final.side} px, "
              f"{found.miou_at_train_px} at the training size (analysis {found.version})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
