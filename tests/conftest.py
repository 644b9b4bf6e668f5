"""Fixtures: tiny synthetic data, a reference training run, a headless browser."""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hw_lib.synth import write_dataset

from .helpers import SMOKE, new_driver, require_browser, tiny_config


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 training and 4 validation pairs at 64 px (ids include 0008, 0097, 0107)."""
    return write_dataset(tmp_path_factory.mktemp("synth"), n_train=8, n_val=4, size=64, seed=0)


@pytest.fixture(scope="session")
def synth_128(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 training and 4 validation pairs at 128 px, for runs that train at a reduced size."""
    return write_dataset(tmp_path_factory.mktemp("synth128"), n_train=4, n_val=4, size=128, seed=1)


@pytest.fixture(scope="session")
def reduced_run(synth_128: Path, tmp_path_factory: pytest.TempPathFactory):
    """A finished one-epoch run trained at 64 px on 128 px data (so scored at 128 px)."""
    from hw_lib.train import fit

    run_dir = tmp_path_factory.mktemp("runs") / "reduced"
    return fit(tiny_config(synth_128, run_dir, epochs=1, snapshot_epochs=None), progress=False)


@pytest.fixture(scope="session")
def reference_run(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One finished tiny run, shared by the tests that only read it."""
    from hw_lib.train import fit

    run_dir = tmp_path_factory.mktemp("runs") / "fcn8s"
    return fit(tiny_config(synth_dir, run_dir), progress=False)


@pytest.fixture(scope="session")
def tiny_runs(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with finished tiny demo runs of FCN32s, FCN16s and FCN8s (what the pipeline would train)."""
    from hw_lib.config import RunConfig
    from hw_lib.train import fit

    root = tmp_path_factory.mktemp("tiny_runs")
    for model in ("fcn32s", "fcn16s", "fcn8s"):
        fit(RunConfig.from_parameters("demo", model=model, data_dir=str(synth_dir), run_dir=str(root / model), **SMOKE),
            progress=False)
    return root


@pytest.fixture(scope="session")
def driver() -> Iterator[Any]:
    """One headless Chromium for the session's browser tests."""
    require_browser()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        browser = new_driver(profile)
        try:
            yield browser
        finally:
            browser.quit()
