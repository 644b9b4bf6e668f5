"""The report pipeline end to end on tiny synthetic data (papermill, nbconvert)."""
import json
import os
import shutil
import subprocess

import nbformat
import pytest

from hw_lib.errors import ConfigError
from hw_lib.pipeline import NotebookError, build_report

from .helpers import REPO

SMOKE = {"epochs": 2, "batch_size": 4, "snapshot_epochs": [1, 2], "image_size": 64}
SECTIONS = ["1. VGG16-FCN32s architecture", "2. FCN32s predicted masks", "3. The improved model: FCN8s",
            "4. FCN8s predicted masks", "5. mIoU on the validation set", "Discussion",
            "6. Bonus: the gradient of the sigmoid cross-entropy"]


def outputs(path, kind):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if kind == "png" and "image/png" in out.get("data", {}):
                yield out
            if kind == "text":
                yield out.get("text", "") + "".join(str(v) for v in out.get("data", {}).values())


@pytest.fixture(scope="module")
def report(synth_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    files = build_report("demo", synth_dir, root / "report", root / "runs", overrides=SMOKE,
                         pdf=shutil.which("xelatex") is not None)
    return root, files


def test_every_section_and_figure_is_there(report):
    _, files = report
    nb = nbformat.read(files["report"], as_version=4)
    headings = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for section in SECTIONS:
        assert section in headings
    text = "\n".join(outputs(files["report"], "text"))
    assert "FCN32s(\n  (features): Sequential(" in text and "(upsample8): ConvTranspose2d(256, 7" in text
    assert "(upsample16)" in text and "Data: synthetic" in text and "Backbone weights: none" in text
    assert "FCN8s beats FCN32s" in text or "FCN8s does not beat FCN32s" in text or "FCN8s and FCN32s tie" in text
    # two mask tables, the mIoU curves and the confusion matrices
    assert len(list(outputs(files["report"], "png"))) == 4
    for model in ("fcn32s", "fcn16s", "fcn8s"):
        train_nb = files["report"].parent / f"train_{model}.ipynb"
        assert len(list(outputs(train_nb, "png"))) == 1  # loss and mIoU curves


def test_the_gradient_check_passed(report):
    _, files = report
    text = "\n".join(outputs(files["report"], "text"))
    assert "gradient check passed" in text


def test_results_json_and_html(report):
    _, files = report
    results = json.loads(files["results"].read_text())
    assert set(results) == {"fcn32s", "fcn16s", "fcn8s"}
    assert results["fcn8s"]["data_source"] == "synthetic" and results["fcn8s"]["epochs"] == 2
    html = files["html"].read_text()
    assert html.count("data:image/png;base64") >= 4 and "gradient check passed" in html
    assert "def " not in html.split("<body")[1]  # code cells are hidden


def test_pdf_is_built_when_tex_is_installed(report):
    if shutil.which("xelatex") is None and not os.environ.get("HW_REQUIRE_PDF"):
        pytest.skip("xelatex is not installed (CI installs it and sets HW_REQUIRE_PDF)")
    _, files = report
    assert files["pdf"].read_bytes()[:5] == b"%PDF-" and files["pdf"].stat().st_size > 50_000


def test_a_second_run_reuses_the_finished_runs(report, synth_dir, capfd):
    root, files = report
    before = {m: (root / "runs" / m / "model.pt").stat().st_mtime_ns for m in ("fcn32s", "fcn16s", "fcn8s")}
    build_report("demo", synth_dir, root / "report", root / "runs", overrides=SMOKE, pdf=False)
    for model in before:
        assert (root / "runs" / model / "model.pt").stat().st_mtime_ns == before[model]
        assert "reused" in "\n".join(outputs(root / "report" / f"train_{model}.ipynb", "text"))


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": "two"}, "ConfigError: epochs: expected int, got 'two'"),
    ({"weights": 3}, "ConfigError: weights: expected str"),
])
def test_a_bad_parameter_names_the_notebook_and_the_problem(synth_dir, tmp_path, overrides, message):
    with pytest.raises(NotebookError, match=f"notebooks/train.ipynb failed .*{message}"):
        build_report("demo", synth_dir, tmp_path / "report", tmp_path / "runs", overrides=overrides, pdf=False)


def test_unknown_parameters_and_presets_are_refused(synth_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown or pipeline-owned parameter"):
        build_report("demo", synth_dir, tmp_path, overrides={"epoch": 2})
    with pytest.raises(ConfigError, match="preset: unknown value 'fast'"):
        build_report("fast", synth_dir, tmp_path)


def test_the_course_preset_does_not_start_hours_of_cpu_training(synth_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ConfigError, match="takes hours per model without a GPU.*fcn32s, fcn16s, fcn8s.*--allow-cpu"):
        build_report("course", synth_dir, tmp_path / "report", tmp_path / "runs")
    assert not (tmp_path / "report").exists()


def test_run_all_exits_with_one_clear_line_on_bad_input(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "nowhere"), "REPORT_DIR": str(tmp_path / "report")}
    result = subprocess.run(["./run_all.sh"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'nowhere'}: data folder does not exist"
    assert not (tmp_path / "report").exists()
