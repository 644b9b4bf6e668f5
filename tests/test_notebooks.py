"""The report pipeline end to end on tiny synthetic data (papermill, nbconvert)."""
import json
import os
import re
import shutil
import subprocess

import nbformat
import pytest

from hw_lib.errors import ConfigError
from hw_lib.pipeline import NotebookError, build_report, choose_preset, display_path

from .helpers import REPO
from .test_html_export import browser_check, render_problems

SMOKE = {"epochs": 2, "batch_size": 4, "image_size": 64}  # snapshot epochs derived: 1, 2
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
    assert ("FCN8s beats FCN32s" in text or "FCN8s does not beat FCN32s" in text
            or "FCN8s and FCN32s cannot be told apart" in text)
    assert "95% paired bootstrap interval over the 4 validation images" in text
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
    assert set(results) == {"models", "comparisons", "bootstrap"}
    fcn8s = results["models"]["fcn8s"]
    assert set(results["models"]) == {"fcn32s", "fcn16s", "fcn8s"} and fcn8s["epochs"] == 2
    assert fcn8s["data_source"] == "synthetic" and fcn8s["scored_at_px"] == 64 and fcn8s["train_px"] == 64
    lo, hi = fcn8s["miou_ci95"]
    assert lo <= fcn8s["final_miou"] <= hi
    assert set(results["comparisons"]) == {"fcn8s - fcn32s", "fcn16s - fcn32s"}
    html = files["html"].read_text()
    assert html.count("data:image/png;base64") >= 4 and "gradient check passed" in html
    assert "def " not in html.split("<body")[1]  # code cells are hidden
    alts = re.findall(r'<img[^>]* alt="([^"]*)"', html)
    assert len(alts) == 4 and all(len(alt) > 40 and "No description" not in alt for alt in alts)
    assert any(alt.startswith("FCN8s predicted masks of validation images 0008, 0097, 0107 at epochs 1, 2,") for alt in alts)


def test_the_generated_html_renders_in_a_browser_with_no_request_leaving_it(report):
    _, files = report
    facts = browser_check(files["html"])
    assert render_problems(facts) == [] and facts["math"]
    assert len(facts["images"]) == 4 and all(len(img["alt"]) > 40 for img in facts["images"])


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


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": -3}, "epochs: must be at least 1, got -3"),
    ({"lr": "abc"}, "lr: expected float, got 'abc'"),
    ({"weights": 3}, "weights: expected str"),
    ({"snapshot_epochs": [5]}, r"snapshot_epochs: \[5\] outside 1..2"),
])
def test_a_bad_parameter_is_refused_before_anything_runs_or_is_written(report, synth_dir, overrides, message):
    root, files = report
    before = snapshot(files["report"].parent)
    with pytest.raises(ConfigError, match=message):
        build_report("demo", synth_dir, root / "report", root / "runs", overrides={**SMOKE, **overrides}, pdf=False)
    assert snapshot(files["report"].parent) == before


def test_a_failing_notebook_keeps_the_previous_copy_and_names_the_failed_one(report, synth_dir, tmp_path):
    root, files = report
    report_dir = tmp_path / "report"
    shutil.copytree(files["report"].parent, report_dir)
    before = snapshot(report_dir)
    with pytest.raises(NotebookError, match=r"notebooks/train.ipynb failed \(the previous train_fcn32s.ipynb is kept; "
                                            r"the failed copy is .*train_fcn32s.failed.ipynb\): ConfigError: sample_ids"):
        build_report("demo", synth_dir, report_dir, tmp_path / "runs",
                     overrides={**SMOKE, "sample_ids": ["0008", "9999"]}, pdf=False)
    after = snapshot(report_dir)
    assert {k: v for k, v in after.items() if k != "train_fcn32s.failed.ipynb"} == before
    assert "9999" in (report_dir / "train_fcn32s.failed.ipynb").read_text()


def test_paths_are_shown_relative_to_the_repository():
    assert display_path(REPO / "data" / "synthetic") == "data/synthetic"
    assert display_path(REPO.parent / "shared" / "dlcv_p2_data") == "../shared/dlcv_p2_data"
    assert display_path("/elsewhere/data") == "/elsewhere/data"


def test_a_shared_folder_that_is_a_symlink_still_reads_as_beside_the_repository(tmp_path, monkeypatch):
    import hw_lib.pipeline as pipeline

    (tmp_path / "clone" / "main").mkdir(parents=True)
    for split in ("train", "validation"):
        (tmp_path / "disk" / "shared" / "dlcv_p2_data" / split).mkdir(parents=True)
    (tmp_path / "clone" / "shared").symlink_to(tmp_path / "disk" / "shared")
    monkeypatch.setattr(pipeline, "REPO", tmp_path / "clone" / "main")
    monkeypatch.chdir(tmp_path / "clone" / "main")
    assert display_path("../shared/dlcv_p2_data") == "../shared/dlcv_p2_data"
    data = pipeline.resolve_data("../shared/dlcv_p2_data", tmp_path / "unused")
    assert display_path(data) == "../shared/dlcv_p2_data"


def test_the_preset_follows_the_data_and_the_device(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert choose_preset("auto", None)[0] == "demo"
    assert choose_preset("auto", "../shared/dlcv_p2_data")[0] == "laptop"
    assert choose_preset("course", "../shared/dlcv_p2_data") == ("course", "preset course (as asked)")
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert choose_preset("auto", "../shared/dlcv_p2_data")[0] == "course"
    with pytest.raises(ConfigError, match="preset: unknown value 'fast'"):
        choose_preset("fast", None)


def test_unknown_parameters_and_presets_are_refused(synth_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown or pipeline-owned parameter"):
        build_report("demo", synth_dir, tmp_path, overrides={"epoch": 2})
    with pytest.raises(ConfigError, match="preset: unknown value 'fast'"):
        build_report("fast", synth_dir, tmp_path)
    assert not any(tmp_path.iterdir())


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


def test_every_model_of_the_committed_demo_learned(tmp_path):
    """Well above predicting the most common class everywhere (mIoU = its pixel share / 6), and not one class."""
    from hw_lib.colors import SCORED_CLASSES, rgb_to_labels
    from hw_lib.data import find_pairs, read_mask_rgb
    from hw_lib.synth import write_dataset

    results = json.loads((REPO / "report" / "demo-synthetic" / "results.json").read_text())
    demo_data = write_dataset(tmp_path)  # what ./run_all.sh writes to data/synthetic (generated, not committed)
    labels = [rgb_to_labels(read_mask_rgb(p.mask)) for p in find_pairs(demo_data / "validation")]
    shares = [sum(int((m == c).sum()) for m in labels) for c in SCORED_CLASSES]
    majority_level = max(shares) / sum(shares) / len(SCORED_CLASSES)
    for name, model in results["models"].items():
        assert model["final_miou"] >= 1.5 * majority_level, (name, model["final_miou"], majority_level)
        assert model["dominant_prediction"]["share"] < 0.8, (name, model["dominant_prediction"])


def test_the_train_notebook_lists_every_run_parameter():
    from hw_lib.config import RunConfig

    nb = nbformat.read(REPO / "notebooks" / "train.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    listed = set(re.findall(r"^(\w+) = ", cell.source, flags=re.M))
    assert set(RunConfig.field_names()) <= listed, set(RunConfig.field_names()) - listed
