"""The lent-GPU procedure (scripts/gpu/README.md) end to end on the CPU: pack_data.sh -> device_part1.sh ->
device_part2.sh -> render_real_report.sh, at the tiny settings the scripts' headers give, on synthetic data.

Everything happens in tmp_path: a copy of the checkout's tracked files (its own git repository, the test's .venv
linked in) stands in for the device's working copy and for the checkout the report is rendered in, a folder per
device call for its $OUT, another for the device's scratch folder ($DEVICE_DIR, /tmp there).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw_lib.cli import parse_set
from hw_lib.synth import write_dataset

from .helpers import MACHINE_PATH, REPO

pytestmark = pytest.mark.slow
GPU = REPO / "scripts" / "gpu"
MODELS = ("fcn32s", "fcn16s", "fcn8s")


def rehearsal_setting(script: str, variable: str) -> str:
    """The value a script's header gives ``variable`` for a CPU rehearsal (``a CPU rehearsal: NAME="..."``)."""
    header = " ".join(line.lstrip("#").strip() for line in (GPU / script).read_text().splitlines()
                      if line.startswith("#"))
    found = re.search(rf'a CPU rehearsal: {variable}="([^"]*)"', header)
    assert found, f"scripts/gpu/{script}: its header gives no CPU rehearsal {variable}"
    return found.group(1)


def copy_checkout(target: Path) -> Path:
    """The checkout's tracked files as they are now (uncommitted changes too), but report/, committed into a new
    repository; setup_env.sh is a no-op there, since its .venv is a link to the one running these tests."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if name.startswith("report/") or not source.is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    (target / "scripts" / "setup_env.sh").write_text("#!/usr/bin/env bash\n# the test's .venv is linked in\n")
    (target / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(git + command, cwd=target, check=True)
    return target


def run(command: list[str], cwd: Path, env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env={**env, **extra}, capture_output=True, text=True, timeout=600)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-3000:]}"
    return result


def machine_paths(text: str, roots: list[Path]) -> list[str]:
    """Absolute paths of this machine in ``text``: MACHINE_PATH's and any under ``roots``."""
    found = [m.group(0) for m in MACHINE_PATH.finditer(text)]
    return found + [str(root) for root in roots if str(root) in text]


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="runs from the project's virtual environment (.venv)")
def test_the_gpu_procedure_rehearsed_on_the_cpu_ends_with_a_report_that_names_no_machine_path(tmp_path):
    here = tmp_path / "here"  # this machine: the checkout and the data beside it
    repo = copy_checkout(here / "repo")
    write_dataset(here / "data", n_train=6, n_val=3, size=64)  # validation: 0008, 0097, 0107
    device, out1, out2 = tmp_path / "device", tmp_path / "out1", tmp_path / "out2"
    out1.mkdir()
    out2.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "DEVICE_DIR": str(device)}
    for name in ("OUT", "RUN_SET", "BENCH_ARGS", "DATA_DIR", "PRESET", "REPORT_DIR", "HW_GIT_COMMIT"):
        env.pop(name, None)
    run_set = rehearsal_setting("device_part2.sh", "RUN_SET")

    ok(run(["scripts/gpu/pack_data.sh", "../data"], repo, env))
    parts = [tarred for tarred in ("part1.tar", "part2.tar") if (repo / ".gpu" / tarred).stat().st_size > 10240]
    assert parts == ["part1.tar", "part2.tar"], "a part holds no files"
    commit = (repo / ".gpu" / "COMMIT").read_text().strip()

    ok(run(["bash", "scripts/gpu/device_part1.sh"], repo, env, OUT=str(out1),
           BENCH_ARGS=rehearsal_setting("device_part1.sh", "BENCH_ARGS")))
    assert json.loads((out1 / "bench.json").read_text())["results"]
    ok(run(["bash", "scripts/gpu/device_part2.sh"], repo, env, OUT=str(out2), RUN_SET=run_set))
    assert (out2 / "run_set.txt").read_text().split() == run_set.split()
    assert sorted(path.name for path in out2.iterdir()) == ["run_set.txt", "runs.tar.gz", "train.log"]

    # rendered without the parameters the runs were trained with, nothing matches: one line, nothing trained
    forgot = tmp_path / "forgot"
    forgot.mkdir()
    shutil.copy(out2 / "runs.tar.gz", forgot)
    (forgot / "run_set.txt").write_text("\n")
    refused = run(["scripts/gpu/render_real_report.sh", str(forgot), "--no-pdf"], repo, env, DATA_DIR="../data")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert re.match(r"error: the course-scratch preset \(\d+ px, \d+ epochs\) .* not yet trained with these "
                    r"parameters and this data in runs/course-scratch-synthetic: fcn32s, fcn16s, fcn8s\.",
                    refused.stderr.strip().splitlines()[-1]), refused.stderr

    ok(run(["scripts/gpu/render_real_report.sh", str(out2), str(out1), "--no-pdf"], repo, env, DATA_DIR="../data"))
    report = repo / "report" / "course-scratch-synthetic"
    written = sorted(path.name for path in report.iterdir())
    assert written == sorted(["bench.json", "bench.log", "gpu.txt", "train.log", "report.html", "report.ipynb",
                              "results.json"] + [f"train_{m}.ipynb" for m in MODELS])
    for model in MODELS:
        assert "a finished run with the same config exists; reused" in (report / f"train_{model}.ipynb").read_text()
    results = json.loads((report / "results.json").read_text())
    assert {m["git_commit"] for m in results["models"].values()} == {commit}
    asked = parse_set(run_set.split())
    assert {(m["data_source"], m["epochs"], m["train_px"], m["train_pairs"]) for m in results["models"].values()} \
        == {("synthetic", asked["epochs"], asked["image_size"], asked["train_limit"])}
    assert "the data in `../data`" in (report / "report.ipynb").read_text()  # the how-made paragraph

    roots = [tmp_path, REPO, Path(sys.prefix)]
    for path in sorted(report.iterdir()):
        assert machine_paths(path.read_text(encoding="utf-8"), roots) == [], path.name
    assert results["data_dir"] == "../data"  # the folder the render was given, not the device's
