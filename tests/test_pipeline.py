"""The report pipeline end to end on tiny synthetic data (papermill, nbconvert), and its refusals."""
import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from hw_lib import run_analysis
from hw_lib.config import RunConfig
from hw_lib.data import fingerprint
from hw_lib.errors import ConfigError
from hw_lib.paths import display_path
from hw_lib.pipeline import NotebookError, build_report, choose_preset, resolve_data
from hw_lib.runs import run_state

from .helpers import (
    INTERNAL_WORDS,
    REPO,
    SMOKE,
    browser_check,
    outputs,
    render_problems,
    report_prose,
    stated_difference_problems,
)

SECTIONS = ["1. VGG16-FCN32s architecture", "2. FCN32s predicted masks", "3. The improved model: FCN8s",
            "4. FCN8s predicted masks", "5. mIoU on the validation set", "5.1 Discussion",
            "6. Bonus: the gradient of the sigmoid cross-entropy", "Appendix: FCN16s"]


STALE = 0.999  # a number no fresh analysis of the tiny runs gives


def make_stale(run_dir: Path) -> None:
    """The run's analysis as an older analysis code would have left it: another version, other numbers."""
    path = run_dir / "analysis.json"
    stored = json.loads(path.read_text())
    stored.update(version="0ld", miou_at_train_px=STALE, skip_ablation={k: STALE for k in stored["skip_ablation"]})
    path.write_text(json.dumps(stored))


@pytest.fixture(scope="module")
def report(synth_dir, tiny_runs, tmp_path_factory):
    """The pipeline over tiny runs trained beforehand, whose analyses are stale: each train notebook reuses
    its run and the report analyses it again."""
    root = tmp_path_factory.mktemp("report")
    shutil.copytree(tiny_runs, root / "runs")
    training = {}
    for model in ("fcn32s", "fcn16s", "fcn8s"):
        make_stale(root / "runs" / model)
        training[model] = {name: (root / "runs" / model / name).read_bytes()
                           for name in ("metrics.jsonl", "checkpoint.pt", "model.pt", "summary.json")}
    files = build_report("demo", synth_dir, root / "report", root / "runs", overrides=SMOKE,
                         pdf=shutil.which("xelatex") is not None)
    return root, files, training


@pytest.mark.slow
def test_every_section_figure_and_table_is_there_with_its_caption(report):
    _, files, _ = report
    nb = nbformat.read(files["report"], as_version=4)
    headings = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for section in SECTIONS:
        assert section in headings
    text = "\n".join(outputs(files["report"], "text"))
    assert "FCN32s(\n  (features): Sequential(" in text and "(upsample8): ConvTranspose2d(256, 7" in text
    assert "(upsample16)" in text and "Data: synthetic" in text and "Backbone weights:** none." in text
    assert ("FCN8s beats FCN32s" in text or "FCN8s does not beat FCN32s" in text
            or "FCN8s and FCN32s cannot be told apart" in text)
    assert "The interval resamples the 4 validation images" in text and "not training randomness" in text
    assert "reports FCN32s 0.670 and FCN8s 0.699 mIoU, with ImageNet VGG16 weights" in text
    captions = re.findall(r"\*\*(Figure|Table) (\w+)\.\*\*", text)
    assert [n for kind, n in captions if kind == "Figure"] == ["1", "2", "3", "4", "5", "6", "A1"]
    # no recorded runs for these runs, and no boundary claims at 64 px: no learning-rate and no boundary table
    assert [n for kind, n in captions if kind == "Table"] == [str(i) for i in range(1, 8)]
    assert "The number of classes in the predictions of 0008, 0097 and 0107 is" in text
    assert text.count("Each mask is predicted from the image resized to 64 px") == 2
    assert text.index("**The answer.**") < text.index("**The comparison.**")  # the answer first
    assert "**How this report was made.**" in text and not INTERNAL_WORDS.search(report_prose(files["report"]))
    assert re.search(r"\| \w+ everywhere \|", text)
    prose = "\n".join(md for md in outputs(files["report"], "markdown"))
    assert not re.search(r"\bfcn(32|16|8)s\b", re.sub(r"`[^`]*`", "", prose)), "model names as FCN32s, FCN16s, FCN8s"
    # two mask tables, the loss and mIoU curves and the confusion matrices, each printed at its own size in the
    # PDF (at most 0.9 of the 6.8 in text width, the template's limit), so its 8 pt text stays 8 pt
    pngs = list(outputs(files["report"], "png"))
    assert len(pngs) == 4
    for png in pngs:
        image = Image.open(io.BytesIO(base64.b64decode(png["data"]["image/png"])))
        assert image.width / image.info["dpi"][0] <= 0.9 * 6.8, image.size
    for model in ("fcn32s", "fcn16s", "fcn8s"):
        train_nb = files["report"].parent / f"train_{model}.ipynb"
        assert len(list(outputs(train_nb, "png"))) == 1  # loss and mIoU curves


@pytest.mark.slow
def test_a_stale_analysis_is_computed_again_without_training_again(report, tiny_runs, synth_dir):
    root, files, training = report
    results = json.loads(files["results"].read_text())
    for model in ("fcn32s", "fcn16s", "fcn8s"):
        fresh = json.loads((tiny_runs / model / "analysis.json").read_text())  # as fit analysed it
        again = json.loads((root / "runs" / model / "analysis.json").read_text())
        assert again == fresh and again["version"] == run_analysis.VERSION
        assert results["models"][model]["analysis"] == fresh and results["models"][model]["miou_at_train_px"] != STALE
        assert {name: (root / "runs" / model / name).read_bytes() for name in training[model]} == training[model]
        assert "reused" in "\n".join(outputs(files["report"].parent / f"train_{model}.ipynb", "text"))


@pytest.mark.slow
def test_the_gradient_check_passed(report):
    _, files, _ = report
    assert "gradient check passed" in "\n".join(outputs(files["report"], "text"))


@pytest.mark.slow
def test_results_json_and_html(report):
    _, files, _ = report
    results = json.loads(files["results"].read_text())
    assert set(results) == {"models", "majority_baseline", "truth_share", "comparisons", "reference", "bootstrap",
                            "data_dir", "recorded", "learning_rates", "discussion"}
    assert stated_difference_problems(results) == [] and results["discussion"]["differences"]
    assert results["recorded"] is None and results["learning_rates"] == {}
    fcn8s = results["models"]["fcn8s"]
    assert set(results["models"]) == {"fcn32s", "fcn16s", "fcn8s"} and fcn8s["epochs"] == 2
    assert fcn8s["data_source"] == "synthetic" and fcn8s["scored_at_px"] == 64 and fcn8s["train_px"] == 64
    assert fcn8s["miou"]["low"] <= fcn8s["miou"]["value"] <= fcn8s["miou"]["high"]
    assert set(fcn8s["analysis"]["skip_ablation"]) == {"pool3", "pool4", "pool4+pool3"}
    assert results["models"]["fcn32s"]["analysis"]["skip_ablation"] == {}
    assert set(results["comparisons"]) == {"fcn8s - fcn32s", "fcn16s - fcn32s"}
    assert results["majority_baseline"]["class_name"] in results["truth_share"]
    assert results["reference"]["miou"] == {"fcn32s": 0.670, "fcn8s": 0.699}
    assert results["reference"]["train_px"] == 256 and results["reference"]["epochs"] == 20
    assert "data_dir" not in fcn8s["config"] and "data_dir" not in fcn8s["provenance"] and "run_dir" not in fcn8s["config"]
    html = files["html"].read_text()
    assert "<title>VGG16-FCN32s and FCN8s: demo preset, synthetic data</title>" in html
    assert html.count("data:image/png;base64") >= 4 and "gradient check passed" in html
    assert "def " not in html.split("<body")[1]  # code cells are hidden
    alts = re.findall(r'<img[^>]* alt="([^"]*)"', html)
    assert len(alts) == 4 and all(len(alt) > 40 and "No description" not in alt for alt in alts)
    assert any(alt.startswith("FCN8s predicted masks of validation images 0008, 0097, 0107 at epochs 1, 2,") for alt in alts)


@pytest.mark.slow
@pytest.mark.browser
def test_the_generated_html_renders_in_a_browser_with_no_request_leaving_it(report, driver):
    _, files, _ = report
    facts = browser_check(files["html"], driver)
    assert render_problems(facts) == [] and facts["math"]
    assert len(facts["images"]) == 4 and all(len(img["alt"]) > 40 for img in facts["images"])


@pytest.mark.slow
def test_pdf_is_built_when_tex_is_installed(report):
    if shutil.which("xelatex") is None and not os.environ.get("HW_REQUIRE_PDF"):
        pytest.skip("xelatex is not installed (CI installs it and sets HW_REQUIRE_PDF)")
    _, files, _ = report
    assert files["pdf"].read_bytes()[:5] == b"%PDF-" and files["pdf"].stat().st_size > 50_000


@pytest.mark.slow
def test_the_train_notebooks_reused_the_finished_runs(report, synth_dir):
    root, files, _ = report
    for model in ("fcn32s", "fcn16s", "fcn8s"):
        config = RunConfig.from_parameters("demo", model=model, data_dir=str(synth_dir),
                                           run_dir=str(root / "runs" / model), **SMOKE)
        assert run_state(config, fingerprint(synth_dir)) == "finished"
        assert "reused" in "\n".join(outputs(files["report"].parent / f"train_{model}.ipynb", "text"))


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": -3}, "epochs: must be at least 1, got -3"),
    ({"lr": "abc"}, "lr: expected float, got 'abc'"),
    ({"weights": 3}, "weights: expected str"),
    ({"snapshot_epochs": [5]}, r"snapshot_epochs: \[5\] outside 1..2"),
])
@pytest.mark.slow
def test_a_bad_parameter_is_refused_before_anything_runs_or_is_written(report, synth_dir, overrides, message):
    root, files, _ = report
    before = snapshot(files["report"].parent)
    with pytest.raises(ConfigError, match=message):
        build_report("demo", synth_dir, root / "report", root / "runs", overrides={**SMOKE, **overrides}, pdf=False)
    assert snapshot(files["report"].parent) == before


@pytest.mark.slow
def test_a_failing_notebook_keeps_the_previous_copy_and_names_the_failed_one(report, synth_dir, tmp_path):
    root, files, _ = report
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
    import hw_lib.paths as paths

    (tmp_path / "clone" / "main").mkdir(parents=True)
    for split in ("train", "validation"):
        (tmp_path / "disk" / "shared" / "dlcv_p2_data" / split).mkdir(parents=True)
    (tmp_path / "clone" / "shared").symlink_to(tmp_path / "disk" / "shared")
    monkeypatch.setattr(paths, "REPO", tmp_path / "clone" / "main")
    monkeypatch.chdir(tmp_path / "clone" / "main")
    assert display_path("../shared/dlcv_p2_data") == "../shared/dlcv_p2_data"
    assert display_path(resolve_data("../shared/dlcv_p2_data", tmp_path / "unused")) == "../shared/dlcv_p2_data"


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


@pytest.mark.parametrize("preset", ["course", "course-scratch"])
def test_a_512_px_preset_does_not_start_hours_of_cpu_training(synth_dir, tmp_path, monkeypatch, preset):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ConfigError, match=f"the {preset} preset .* takes hours per model without a GPU.*fcn32s, "
                                          "fcn16s, fcn8s.*--allow-cpu"):
        build_report(preset, synth_dir, tmp_path / "report", tmp_path / "runs")
    assert not (tmp_path / "report").exists()


@pytest.mark.slow
def test_run_all_exits_with_one_clear_line_on_bad_input(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "nowhere"), "REPORT_DIR": str(tmp_path / "report")}
    result = subprocess.run(["./run_all.sh"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'nowhere'}: data folder does not exist"
    assert not (tmp_path / "report").exists()


def test_the_train_notebook_lists_every_run_parameter():
    nb = nbformat.read(REPO / "notebooks" / "train.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    listed = set(re.findall(r"^(\w+) = ", cell.source, flags=re.M))
    assert set(RunConfig.field_names()) <= listed, set(RunConfig.field_names()) - listed
