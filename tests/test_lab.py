"""The notebooks as a student uses them: opened from notebooks/, parameters changed, Run All; in nbclient
and in JupyterLab itself (headless Chromium). The source notebooks carry no outputs."""
from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from hw_lib.errors import ConfigError
from hw_lib.runs import Run, latest_runs_dir

from .helpers import REPO, SMOKE, outputs, require_browser

NOTEBOOKS = REPO / "notebooks"
NBSTRIPOUT = "nbstripout --extra-keys metadata.language_info"  # the clean filter ./run_lab.sh defines


def run_from_notebooks_folder(name: str, parameters: dict[str, Any], out: Path) -> Path:
    """Execute notebooks/<name> with ``parameters`` set in a cell after the parameters cell, its kernel
    started in notebooks/ as Jupyter starts it; the executed copy is written to ``out``."""
    nb = parameterize_notebook(load_notebook_node(str(NOTEBOOKS / name)), parameters)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    nbformat.write(nb, out)
    return out


@pytest.mark.slow
def test_the_train_notebook_with_only_the_model_changed_writes_that_model_where_it_says(synth_dir, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.setenv("HW_RUNS_DIR", str(tmp_path / "runs"))  # where runs/<preset>-<source>/ would be
    executed = run_from_notebooks_folder("train.ipynb", {"model": "fcn32s", "data_dir": str(synth_dir), **SMOKE},
                                         tmp_path / "train.ipynb")  # SMOKE and data_dir only make it quick
    run_dir = tmp_path / "runs" / "demo-synthetic" / "fcn32s"
    text = list(outputs(executed, "text"))
    assert text[0].startswith(f"fcn32s with the demo preset, data {synth_dir}: writes {run_dir}")
    assert Run.load(run_dir).model == "fcn32s" and Run.load(run_dir).finished
    assert not (tmp_path / "runs" / "demo-synthetic" / "fcn8s").exists()
    assert "final_miou" in "\n".join(text) and len(list(outputs(executed, "png"))) == 1


@pytest.mark.slow
def test_the_report_notebook_runs_from_its_folder(tiny_runs, synth_dir, tmp_path):
    executed = run_from_notebooks_folder("report.ipynb", {"runs_dir": os.path.relpath(tiny_runs, REPO),
                                                          "data_dir": str(synth_dir)}, tmp_path / "report.ipynb")
    text = "\n".join(outputs(executed, "text"))
    assert "| model | mIoU at 64 px |" in text and "gradient check passed" in text


@pytest.mark.slow
def test_the_report_notebook_says_what_to_run_first_when_there_are_no_runs(tmp_path):
    with pytest.raises(Exception, match=r"no run of FCN32s there; train it first \(./run_all.sh, or "
                                        r"notebooks/train.ipynb with that run_dir\)"):
        run_from_notebooks_folder("report.ipynb", {"runs_dir": str(tmp_path)}, tmp_path / "report.ipynb")
    for preset, command in (("demo", "./run_all.sh first"), ("laptop", "./run_all.sh with PRESET=laptop first")):
        with pytest.raises(ConfigError, match=f"no finished runs of the {preset} preset in .*: run {command}"):
            latest_runs_dir(preset, root=tmp_path)


def test_the_source_notebooks_are_committed_as_the_output_filter_writes_them():
    """Without outputs, and byte for byte what the filter of .gitattributes makes of them, so that a notebook
    JupyterLab saved with outputs shows no change in git."""
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code"), path
        stripped = subprocess.run([sys.executable, "-m", "nbstripout", *NBSTRIPOUT.split()[1:]], input=path.read_text(),
                                  capture_output=True, text=True, check=True).stdout
        assert stripped == path.read_text(), f"{path.name}: commit it through the nbstripout filter (./run_lab.sh sets it up)"


def test_run_lab_sets_up_the_filter_this_test_uses():
    assert f"-m {NBSTRIPOUT}" in (REPO / "run_lab.sh").read_text().replace("nbstripout -t", "")


def test_git_strips_outputs_from_the_source_notebooks_only():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-attr", "filter", "notebooks/report.ipynb", "report/demo-synthetic/report.ipynb"],
                            cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["notebooks/report.ipynb: filter: nbstripout",
                                          "report/demo-synthetic/report.ipynb: filter: unspecified"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def lab(tiny_runs, synth_dir, tmp_path):
    """JupyterLab from the project's environment on a free local port with a token, serving a copy of
    notebooks/report.ipynb whose parameters point at the tiny runs (as a student edits them)."""
    require_browser()
    folder = tmp_path / "lab"
    folder.mkdir()
    nb = nbformat.read(NOTEBOOKS / "report.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = re.sub(r'^runs_dir = "default"', f"runs_dir = {str(tiny_runs)!r}", cell.source, flags=re.M)
    cell.source = re.sub(r'^data_dir = "default"', f"data_dir = {str(synth_dir)!r}", cell.source, flags=re.M)
    assert str(tiny_runs) in cell.source and str(synth_dir) in cell.source
    nbformat.write(nb, folder / "report.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--allow-root"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).status == 200
            except OSError:
                return False

        wait_for(up, 60, "JupyterLab to answer")
        yield f"{url}/lab/tree/report.ipynb?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.browser
def test_run_all_in_jupyterlab_shows_the_miou_table(lab, driver):
    from selenium.webdriver.common.by import By

    driver.get(lab)
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 60, "the notebook to open")
    wait_for(lambda: driver.find_elements(By.XPATH, "//*[contains(@class,'jp-Notebook-ExecutionIndicator')"
                                                    " and @data-status='idle']"), 60, "the kernel to be idle")

    def menu(label: str) -> Any:
        items = driver.find_elements(By.XPATH, f"//*[contains(@class,'lm-MenuBar-itemLabel') and text()='{label}']"
                                               f" | //*[contains(@class,'lm-Menu-itemLabel') and text()='{label}']")
        return items[0] if items else None

    wait_for(lambda: menu("Run"), 30, "the Run menu").click()
    wait_for(lambda: menu("Run All Cells"), 10, "Run All Cells").click()
    # textContent: outputs scrolled out of view count too
    shown = lambda: driver.execute_script(  # noqa: E731
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(o => o.textContent).join('\\n')")
    wait_for(lambda: "gradient check passed" in shown() or "Traceback" in shown(), 240, "Run All to finish")
    assert "Traceback" not in shown()
    tables = driver.execute_script("return Array.from(document.querySelectorAll('.jp-OutputArea-output table'))"
                                   ".map(t => t.textContent)")
    assert any("mIoU at 64 px" in table and "FCN8s" in table for table in tables), tables[:3]
