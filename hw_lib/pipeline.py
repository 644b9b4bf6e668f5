"""The whole report in one command (what ``./run_all.sh`` runs): ``python -m hw_lib.pipeline``.

1. the preset: ``demo`` without data (synthetic, CPU minutes), ``laptop`` with real data and no
   CUDA GPU, ``course`` with real data and a GPU (``auto``, the default, picks and says so);
2. every run parameter is checked, the backbone weights found and the data folder checked before anything
   runs or is written (then the synthetic demo data is written where no data is given);
3. data: ``--data-dir`` (holding train/ and validation/), else synthetic demo data it generates;
4. ``notebooks/train.ipynb`` once per model (FCN32s, FCN16s, FCN8s), executed with papermill;
   finished identical runs (``runs/<preset>-<source>/<model>``) are reused;
5. ``notebooks/report.ipynb``, which reads the run directories and writes ``results.json``;
6. ``report.html`` (one self-contained file that needs no network) and ``report.pdf``.

Everything lands in ``report/<preset>-<source>/`` (``demo-synthetic``, ``laptop-real``,
``course-real``, ``course-scratch-real``), so a demo never overwrites a real-data report. A notebook is executed into a
temporary file that replaces the previous copy only on success; a failure stops the pipeline,
keeps the failed copy beside it (``<name>.failed.ipynb``) and names it. Paths in what is written
are relative to the repository (or as given), never the machine's absolute ones.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill
import torch
from nbconvert import PDFExporter
from papermill.exceptions import PapermillExecutionError

from . import atomic
from .cli import parse_set, run_cli
from .config import PRESETS, RunConfig, check_bool, runs_folder
from .data import data_source, fingerprint, split_dirs
from .errors import ConfigError, HwLibError
from .html_export import export_html
from .models import MODELS, vgg16_features
from .paths import NOTEBOOKS, REPO, REPORTS, display_path, lexical_absolute
from .runs import run_state
from .synth import write_dataset

LATEX_TEMPLATE = NOTEBOOKS / "templates" / "hw_report.tex.j2"
TEX_PACKAGES = "texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc"
#: run parameters the pipeline sets itself
PIPELINE_OWNED = {"model", "data_dir", "run_dir"}


class NotebookError(HwLibError):
    """A notebook failed to execute or export."""


def execute(notebook: Path, output: Path, parameters: dict[str, Any], title: str | None = None) -> None:
    """Run ``notebook`` with papermill into ``output``, streaming its output; ``title`` names the
    executed notebook (and so the HTML page).

    The notebook runs into a temporary file that replaces ``output`` only on success; on failure
    it is kept as ``<name>.failed.ipynb`` and the error names it.
    """
    print(f"== {display_path(notebook)} -> {display_path(output)} {parameters.get('model', '')}", flush=True)
    running = output.with_name(f".{output.stem}.running.ipynb")
    failed = output.with_name(f"{output.stem}.failed.ipynb")
    try:
        papermill.execute_notebook(str(notebook), str(running), parameters=parameters, cwd=str(REPO),
                                   kernel_name="python3", progress_bar=False, stdout_file=sys.stdout,
                                   stderr_file=sys.stderr)
    except BaseException as e:
        if running.exists():
            os.replace(running, failed)
        if not isinstance(e, Exception):  # Ctrl-C, SystemExit: nothing to explain
            raise
        what = f"{e.ename}: {e.evalue}" if isinstance(e, PapermillExecutionError) else f"{type(e).__name__}: {e}"
        kept = f"the failed copy is {display_path(failed)}" if failed.exists() else "nothing was written"
        previous = f"the previous {output.name} is kept" if output.exists() else f"no {output.name} existed before"
        raise NotebookError(f"{display_path(notebook)} failed ({previous}; {kept}): {what}") from None
    nb = nbformat.read(running, as_version=4)
    nb.metadata.setdefault("papermill", {}).update(input_path=display_path(notebook), output_path=display_path(output))
    if title:
        nb.metadata["title"] = title
    nbformat.write(nb, running)
    os.replace(running, output)
    failed.unlink(missing_ok=True)


def export_pdf(executed: Path, target: Path) -> Path | None:
    """The PDF through XeLaTeX; without it, one line saying what to install, and None."""
    missing = [tool for tool in ("xelatex", "pandoc") if shutil.which(tool) is None]
    if missing:
        print(f"PDF skipped: {' and '.join(missing)} not found (apt-get install {TEX_PACKAGES}); "
              f"the HTML report is {target.with_suffix('.html')}", flush=True)
        return None
    try:
        exporter = PDFExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                               template_file=str(LATEX_TEMPLATE))
        pdf, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    except Exception as e:  # nbconvert's LatexFailed carries the LaTeX log
        raise NotebookError(f"PDF export of {executed} failed: {type(e).__name__}: {str(e)[-1500:]}") from None
    with atomic.atomic_path(target) as tmp:
        tmp.write_bytes(pdf)
    return target


def choose_preset(preset: str, data_dir: str | Path | None) -> tuple[str, str]:
    """The preset to use and a sentence saying why; ``auto`` picks by data and device."""
    if not isinstance(preset, str) or (preset != "auto" and preset not in PRESETS):
        raise ConfigError(f"preset: unknown value {preset!r}; choose one of auto, {', '.join(PRESETS)}")
    if preset != "auto":
        return preset, f"preset {preset} (as asked)"
    if not data_dir:
        return "demo", "preset demo: no DATA_DIR, so synthetic demo data, small enough for a CPU"
    if torch.cuda.is_available():
        return "course", "preset course: real data and a CUDA GPU (ImageNet VGG16 fine-tuned, the reference's setting)"
    return "laptop", ("preset laptop: real data and no CUDA GPU, so the reduced-resolution CPU recipe "
                      "(PRESET=course asks for the GPU's course settings)")


def check_weights(preset: str, overrides: dict[str, Any]) -> None:
    """The backbone weights the runs will start from, loaded once now: where they cannot be had
    (ImageNet weights with no cache and no network), the pipeline stops before it trains or writes."""
    weights = RunConfig.from_parameters(preset, **overrides).weights
    if weights != "none":
        vgg16_features(weights)


def resolve_data(data_dir: str | Path | None, synth_dir: Path) -> Path:
    """The data folder to use: ``data_dir`` when given, else synthetic demo data (written once)."""
    if data_dir:
        path = lexical_absolute(data_dir)
        split_dirs(path)
        return path
    print(f"no DATA_DIR given: using synthetic demo data in {display_path(synth_dir)}", flush=True)
    return lexical_absolute(write_dataset(synth_dir))


def check_parameters(preset: str, overrides: dict[str, Any], force: bool) -> None:
    """Every run parameter of every model, checked before anything runs or is written."""
    known = set(RunConfig().to_dict()) - PIPELINE_OWNED
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"--set: unknown or pipeline-owned parameter(s) {', '.join(unknown)}; "
                          f"settable: {', '.join(sorted(known))}")
    check_bool("force", force)
    for model in MODELS:
        RunConfig.from_parameters(preset, model=model, **overrides)


def refuse_slow_training(preset: str, data: Path, runs_dir: Path, force: bool, overrides: dict[str, Any]) -> None:
    """A course preset (course, course-scratch) on a machine without CUDA: only finished runs of these
    parameters and this data may be reused, nothing trained."""
    if not preset.startswith("course") or torch.cuda.is_available():
        return
    data_fingerprint = fingerprint(data) if data.exists() else None  # demo data not written yet: nothing trained
    configs = {model: RunConfig.from_parameters(preset, model=model, data_dir=str(data),
                                                run_dir=str(runs_dir / model), **overrides) for model in MODELS}
    todo = [model for model, config in configs.items() if data_fingerprint is None
            or run_state(config, data_fingerprint, force) != "finished"]
    if todo:
        first = configs[todo[0]]
        raise ConfigError(f"the {preset} preset ({first.image_size} px, {first.epochs} epochs) takes hours per model "
                          f"without a GPU, and this machine has none; not yet trained with these parameters and this "
                          f"data in {display_path(runs_dir)}: {', '.join(todo)}. Train them on a GPU "
                          "(scripts/gpu/README.md), use PRESET=laptop, or pass --allow-cpu")


def build_report(preset: str = "auto", data_dir: str | Path | None = None, report_dir: str | Path | None = None,
                 runs_dir: str | Path | None = None, force: bool = False, overrides: dict[str, Any] | None = None,
                 synth_dir: str | Path = REPO / "data" / "synthetic", pdf: bool = True,
                 allow_cpu: bool = False) -> dict[str, Path | None]:
    """Train the three models (or reuse their runs) and render the report; returns the files written.

    ``report_dir`` and ``runs_dir`` default to ``report/<preset>-<source>`` and ``runs/<preset>-<source>``.
    """
    overrides = overrides or {}
    preset, why = choose_preset(preset, data_dir)
    print(why, flush=True)
    check_parameters(preset, overrides, force)
    data = lexical_absolute(data_dir or synth_dir)
    source = data_source(data) if data_dir else "synthetic"
    name = f"{preset}-{source}"
    runs_dir = lexical_absolute(runs_dir or REPO / runs_folder(preset, source))
    if not allow_cpu:
        refuse_slow_training(preset, data, runs_dir, force, overrides)
    check_weights(preset, overrides)
    data = resolve_data(data_dir, Path(synth_dir))
    report_dir = lexical_absolute(report_dir or REPO / REPORTS / name)
    report_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    for model in MODELS:
        started = time.perf_counter()
        parameters = {"preset": preset, "model": model, "data_dir": display_path(data),
                      "run_dir": display_path(runs_dir / model), "force": force, **overrides}
        execute(NOTEBOOKS / "train.ipynb", report_dir / f"train_{model}.ipynb", parameters)
        timings[model] = time.perf_counter() - started
    executed = report_dir / "report.ipynb"
    results = report_dir / "results.json"
    title = f"VGG16-FCN32s and FCN8s: {preset} preset, {data_source(data)} data"
    parameters = {"preset": preset, "runs_dir": display_path(runs_dir), "data_dir": display_path(data),
                  "results_path": display_path(results)}
    execute(NOTEBOOKS / "report.ipynb", executed, parameters, title)
    files = {"report": executed, "results": results, "html": export_html(executed, report_dir / "report.html"),
             "pdf": export_pdf(executed, report_dir / "report.pdf") if pdf else None}
    print("notebook wall time: " + ", ".join(f"{m} {s:.0f} s" for m, s in timings.items()), flush=True)
    print("report: " + ", ".join(display_path(p) for p in files.values() if p), flush=True)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="auto", help="auto (default: demo without --data-dir, else laptop on a "
                        f"CPU and course on a CUDA GPU), {', '.join(PRESETS)}")
    parser.add_argument("--data-dir", default=None,
                        help="real data folder with train/ and validation/ (default: synthetic)")
    parser.add_argument("--report-dir", default=None, help="default report/<preset>-<real|synthetic>")
    parser.add_argument("--runs-dir", default=None, help="default runs/<preset>-<real|synthetic>")
    parser.add_argument("--force", action="store_true", help="retrain; finished runs are archived, not deleted")
    parser.add_argument("--no-pdf", action="store_true")
    parser.add_argument("--allow-cpu", action="store_true", help="let a GPU preset train without a GPU (hours)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="run parameters, e.g. epochs=5")
    args = parser.parse_args(argv)
    build_report(args.preset, args.data_dir, args.report_dir, args.runs_dir, args.force, parse_set(args.set),
                 pdf=not args.no_pdf, allow_cpu=args.allow_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
