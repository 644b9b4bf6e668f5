"""Paths to the optional ../shared folder and small helpers for the tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hw_lib.config import RunConfig

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HW_SHARED_DIR", REPO.parent / "shared"))
REAL_DATA = SHARED / "dlcv_p2_data"
SCORER_FIXTURE = SHARED / "scorer_fixture" / "fcn32s_predictions"
SEED = SHARED / "seed" / "000_36b17a335cab0ac0.txt"


def need(path: Path) -> Path:
    """Skip the test when ``path`` (something from ../shared) is absent, as in a fresh clone."""
    if not path.exists():
        pytest.skip(f"{path} is absent (it lives in ../shared beside the checkout)")
    return path


def tiny_config(data_dir: Path, run_dir: Path, **overrides) -> RunConfig:
    """A run that takes seconds on the CPU."""
    values = dict(model="fcn8s", data_dir=str(data_dir), run_dir=str(run_dir), epochs=2, batch_size=4,
                  lr=3e-4, image_size=64, snapshot_epochs=[1, 2], device="cpu", seed=0)
    return RunConfig(**{**values, **overrides})
