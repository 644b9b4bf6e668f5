"""The committed reports (report/<preset>-<source>/) as the repository ships them, and the numbers the README
and docs state about them. Run alone with ``./run_tests.sh -m artifacts``."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    INTERNAL_WORDS,
    MACHINE_PATH,
    REPO,
    browser_check,
    outputs,
    render_problems,
    report_prose,
    stated_difference_problems,
)

pytestmark = pytest.mark.artifacts
COMMITTED = sorted(REPO.glob("report/*/report.html"))
#: a markdown table in README.md or docs/ right under this comment states numbers of that results.json
NUMBERS_MARKER = re.compile(r"<!-- numbers: (report/[\w-]+/results\.json) -->\n((?:\|.*\n)+)")


def results(name: str) -> dict[str, Any]:
    return json.loads((REPO / "report" / name / "results.json").read_text())


@pytest.mark.browser
@pytest.mark.parametrize("html", COMMITTED, ids=[str(p.parent.name) for p in COMMITTED])
def test_the_committed_reports_render_offline_with_described_figures(html: Path, driver: Any) -> None:
    facts = browser_check(html, driver)
    assert render_problems(facts) == []
    assert facts["math"], "section 6 has math, so MathML is expected"
    assert len(facts["images"]) == 4 and all(len(img["alt"] or "") > 40 for img in facts["images"])


def test_the_committed_reports_carry_no_machine_paths() -> None:
    assert COMMITTED, "the repository ships at least the demo report"
    for folder in {p.parent for p in COMMITTED}:
        for path in folder.iterdir():
            if path.suffix in (".html", ".json", ".ipynb"):
                text = path.read_text(encoding="utf-8")
                assert str(REPO) not in text and not MACHINE_PATH.search(text), path


@pytest.mark.parametrize("name", ["demo-synthetic", "laptop-real"])
def test_every_model_of_the_committed_reports_learned(name: str) -> None:
    """Above predicting the training split's most frequent class everywhere, and not collapsed to one class."""
    if not (REPO / "report" / name / "results.json").exists():
        pytest.skip(f"report/{name} is not committed")
    found = results(name)
    baseline = found["majority_baseline"]["miou"]["value"]
    for model_name, model in found["models"].items():
        assert model["miou"]["value"] >= baseline + 0.04, (model_name, model["miou"], baseline)
        assert model["most_predicted"]["share"] < 0.9, (model_name, model["most_predicted"])


def test_the_committed_laptop_report_comes_from_the_laptop_preset_and_its_baseline_left_the_majority_class() -> None:
    from hw_lib.config import RunConfig

    models = results("laptop-real")["models"]
    for name, model in models.items():
        preset = RunConfig.preset("laptop", model=name)
        assert (model["recipe"]["lr"], model["epochs"], model["train_px"]) == (preset.lr, preset.epochs, preset.image_size)
        assert model["precision"] == "fp32" and model["weights"].startswith("none")
    assert models["fcn32s"]["miou"]["value"] >= 0.15 and models["fcn32s"]["most_predicted"]["share"] < 0.9


@pytest.mark.parametrize("html", COMMITTED, ids=[str(p.parent.name) for p in COMMITTED])
def test_every_difference_the_committed_discussions_state_is_recomputed_from_their_results(html: Path) -> None:
    found = results(html.parent.name)
    assert found["discussion"]["differences"] and stated_difference_problems(found) == []
    assert found["discussion"]["text"] in list(outputs(html.parent / "report.ipynb", "markdown"))


@pytest.mark.parametrize("html", COMMITTED, ids=[str(p.parent.name) for p in COMMITTED])
def test_the_committed_reports_compare_one_recipe_and_name_the_code_in_one_paragraph_only(html: Path) -> None:
    models = results(html.parent.name)["models"].values()
    assert len({json.dumps({k: v for k, v in m["config"].items() if k != "model"}, sort_keys=True)
                for m in models}) == 1
    prose = report_prose(html.parent / "report.ipynb")
    assert not INTERNAL_WORDS.search(prose), INTERNAL_WORDS.search(prose)


def stated_tables() -> list[tuple[str, str, str]]:
    """Every table of the README and docs/ that states a committed report's numbers: (file, results.json, table)."""
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for source, table in NUMBERS_MARKER.findall(path.read_text()):
            found.append((path.name, source, table))
    return found


def test_the_readme_states_the_laptop_report_s_numbers() -> None:
    assert any(name == "README.md" and "laptop-real" in source for name, source, _ in stated_tables())


@pytest.mark.parametrize("where, source, table", stated_tables(), ids=lambda v: str(v)[:40])
def test_numbers_stated_about_a_committed_report_are_its_own(where: str, source: str, table: str) -> None:
    """Each row `| FCN8s | 0.410 [0.355, 0.458] | 0.554 | ... |`: the mIoU with its interval, then per-class IoU."""
    found = json.loads((REPO / source).read_text())
    names = {"FCN32s": "fcn32s", "FCN16s": "fcn16s", "FCN8s": "fcn8s"}
    checked = 0
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[0] not in names:
            continue
        model = found["models"][names[cells[0]]]
        miou = model["miou"]
        assert cells[1] == f"{miou['value']:.3f} [{miou['low']:.3f}, {miou['high']:.3f}]", (where, row)
        per_class = [f"{v:.3f}" for v in model["per_class_iou"].values()]
        assert cells[2:] == per_class, (where, row)
        checked += 1
    assert checked == 3, (where, table)
