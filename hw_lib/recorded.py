"""Runs recorded outside the report's pipeline: the report's recipe at other peak learning rates and seeds.

A report compares its models at one recipe; how much the learning rate and the seed move each model's
score needs more runs than the report trains. They are listed in a JSON file (for the laptop report
``docs/recorded_runs/laptop-real.json``), each with where it comes from, and the report reads the file
as an input: its learning-rate table and its seed spread come from it and from the report's own runs.

``python -m hw_lib.recorded FILE RUN_DIR... --machine TEXT --source TEXT`` adds finished runs from their
run directories (final mIoU and most predicted class at the masks' own size, as the report scores them).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic, run_analysis
from .cli import run_cli
from .errors import ConfigError
from .metrics import most_predicted
from .models import MODELS
from .paths import REPO, display_path
from .runs import Run

#: where the recorded runs of a report's runs folder (``runs/laptop-real``) lie: ``docs/recorded_runs/laptop-real.json``
FOLDER = "docs/recorded_runs"
#: a run's settings that a recorded run may differ in from the report's runs
VARIED = ("lr", "seed")
#: config fields that do not change what a run learns, or that name the model
NOT_RECIPE = ("model", "run_dir", "data_dir", "compile", "device", "snapshot_epochs", "sample_ids", *VARIED)


def recipe_of(config: dict[str, Any]) -> dict[str, Any]:
    """A run config's recipe: what must be equal for two runs to differ only in the varied settings."""
    return {k: v for k, v in config.items() if k not in NOT_RECIPE}


def default_file(runs_dir: str | Path) -> Path | None:
    """The recorded runs that go with a runs folder, by its name, or None where there are none."""
    path = REPO / FOLDER / f"{Path(runs_dir).name}.json"
    return path if path.is_file() else None


@dataclass(frozen=True)
class RecordedRun:
    """One finished run: its model, peak lr and seed, what it scored, and where the numbers come from."""

    model: str
    lr: float
    seed: int
    miou: float  # final, at the masks' own size
    top_share: float | None  # share of the validation pixels given to the most predicted class (None: not recorded)
    precision: str
    machine: str  # the CPU kind or GPU it trained on
    source: str  # where the numbers were read: a run directory at a commit, or docs/experiments.md


@dataclass(frozen=True)
class RecordedRuns:
    """A file of recorded runs: the recipe they share (all but :data:`VARIED`) and the runs."""

    recipe: dict[str, Any]
    runs: list[RecordedRun]
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "recipe": self.recipe, "runs": [dataclasses.asdict(r) for r in self.runs]}


@dataclass(frozen=True)
class LrRow:
    """One model at one peak lr: every seed recorded (the report's own run included)."""

    model: str
    lr: float
    runs: list[RecordedRun]  # by seed
    common: bool  # the report's lr
    best: bool  # the lr of the model's highest mean mIoU

    @property
    def mean(self) -> float:
        return sum(r.miou for r in self.runs) / len(self.runs)

    @property
    def spread(self) -> float:
        """Largest minus smallest mIoU over the seeds (0 for one seed)."""
        return max(r.miou for r in self.runs) - min(r.miou for r in self.runs)


def lr_rows(runs: list[RecordedRun], common_lr: float) -> dict[str, list[LrRow]]:
    """Per model, one row per peak lr (ascending), its runs by seed; the best lr is the highest mean mIoU."""
    out: dict[str, list[LrRow]] = {}
    for model in MODELS:
        lrs = sorted({r.lr for r in runs if r.model == model})
        groups = {lr: sorted((r for r in runs if r.model == model and r.lr == lr), key=lambda r: r.seed) for lr in lrs}
        if not groups:
            continue
        means = {lr: sum(r.miou for r in g) / len(g) for lr, g in groups.items()}
        best = max(means, key=means.get)
        out[model] = [LrRow(model, lr, g, lr == common_lr, lr == best) for lr, g in groups.items()]
    return out


def merged(ours: list[RecordedRun], recorded: list[RecordedRun]) -> list[RecordedRun]:
    """The report's own runs and the recorded ones; where both have a model, lr and seed, the report's run."""
    taken = {(r.model, r.lr, r.seed) for r in ours}
    return ours + [r for r in recorded if (r.model, r.lr, r.seed) not in taken]


def load(path: str | Path) -> RecordedRuns:
    """The recorded runs in ``path``; a :class:`ConfigError` naming the file and the entry that is wrong."""
    try:
        values = json.loads(Path(path).read_text())
        runs = [RecordedRun(**entry) for entry in values["runs"]]
        recipe = dict(values["recipe"])
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the recorded runs ({error.strerror})") from None
    except (ValueError, TypeError, KeyError) as error:
        raise ConfigError(f"{path}: not a recorded-runs file (a 'recipe' and a list of 'runs' with the fields "
                          f"{', '.join(f.name for f in dataclasses.fields(RecordedRun))}): {error}") from None
    for index, run in enumerate(runs):
        if run.model not in MODELS or not 0 <= run.miou <= 1 or not (run.top_share is None or 0 <= run.top_share <= 1):
            raise ConfigError(f"{path}: run {index + 1} ({run.model}, lr {run.lr:g}, seed {run.seed}): a model of "
                              f"{', '.join(MODELS)} and scores between 0 and 1 expected")
    return RecordedRuns(recipe, runs, display_path(path))


def check_recipe(recorded: RecordedRuns, config: dict[str, Any]) -> None:
    """Refuse recorded runs of another recipe than ``config``'s (they may differ in lr and seed only)."""
    ours = recipe_of(config)
    differ = sorted(k for k in set(ours) | set(recorded.recipe) if ours.get(k) != recorded.recipe.get(k))
    if differ:
        shown = "; ".join(f"{k}: {recorded.recipe.get(k)!r} there, {ours.get(k)!r} here" for k in differ)
        raise ConfigError(f"{recorded.path}: its runs' recipe differs from the report's runs in more than "
                          f"{' and '.join(VARIED)} ({shown})")


def from_run(run: Run, machine: str, source: str, data_dir: str | Path | None = None) -> RecordedRun:
    """A finished run as a recorded run, scored as the report scores it (its analysis, computed where missing)."""
    _, final = run_analysis.current(run, data_dir, log=lambda line: None)
    trained = f"{source}; trained at commit {run.provenance['git_commit']}, finished {run.summary.finished}"
    return RecordedRun(run.model, run.config["lr"], run.config["seed"], round(final.scores.miou, 6),
                       round(most_predicted(final.per_image.sum(0)).share, 6), run.precision, machine, trained)


def add(path: str | Path, runs: list[Run], machine: str, source: str) -> RecordedRuns:
    """Append ``runs`` to the file at ``path`` (created with the first run's recipe); each must share it."""
    recorded = load(path) if Path(path).exists() else RecordedRuns(recipe_of(runs[0].config), [], display_path(path))
    for run in runs:
        if not run.finished:
            raise ConfigError(f"{run.path}: the run is unfinished; train it first")
        check_recipe(recorded, run.config)
    added = RecordedRuns(recorded.recipe, recorded.runs + [from_run(run, machine, source) for run in runs],
                         recorded.path)
    atomic.write_json(path, {"recipe": added.recipe, "runs": [dataclasses.asdict(r) for r in added.runs]})
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.recorded", description=__doc__.split("\n")[0])
    parser.add_argument("file", help="the recorded-runs JSON file (created if missing)")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run directories to add")
    parser.add_argument("--machine", required=True, help="the CPU kind or GPU they trained on, e.g. 'AMD Zen 4'")
    parser.add_argument("--source", required=True, help="where they come from, e.g. 'probe of 2026-12-02 at <commit>'")
    args = parser.parse_args(argv)
    recorded = add(args.file, [Run.load(d) for d in args.run_dirs], args.machine, args.source)
    for run in recorded.runs[-len(args.run_dirs):]:
        print(f"{args.file}: {run.model} lr {run.lr:g} seed {run.seed}: mIoU {run.miou:.4f}, top share "
              f"{run.top_share:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
