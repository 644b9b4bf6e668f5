"""The whole report in one command (what ``./run_all.sh`` runs): ``python -m hw_lib.pipeline``.

1. data: ``--data-dir`` (holding train/ and validation/), else synthetic demo data it generates;
2. ``notebooks/train.ipynb`` once per model (FCN32s, FCN16s, FCN8s), executed with papermill
   into the report folder; finished identical runs are reused;
3. ``notebooks/report.ipynb``, which reads the run directories and writes ``results.json``;
4. ``report.html`` (one self-contained file) and ``report.pdf`` (nbconvert, XeLaTeX).

It stops at the first failing notebook and names it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill
import torch
from nbconvert import HTMLExporter, PDFExporter
from papermill.exceptions import PapermillExecutionError

from .cli import run_cli
from .config import PRESETS, RunConfig
from .analysis import REPORT_MODELS
from .data import fingerprint, split_dirs
from .errors import ConfigError, HwLibError
from .runs import run_state
from .synth import is_synthetic, write_dataset

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
LATEX_TEMPLATE = NOTEBOOKS / "templates" / "hw_report.tex.j2"
TEX_PACKAGES = "texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc"
#: run parameters the pipeline sets itself
PIPELINE_OWNED = {"model", "data_dir", "run_dir"}


class NotebookError(HwLibError):
    """A notebook failed to execute or export."""


def execute(notebook: Path, output: Path, parameters: dict[str, Any]) -> None:
    """Run ``notebook`` with papermill into ``output``, streaming its output; a failure names the notebook."""
    print(f"== {notebook.relative_to(REPO)} -> {output} {parameters.get('model', '')}", flush=True)
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, cwd=str(REPO),
                                   kernel_name="python3", progress_bar=False, stdout_file=sys.stdout,
                                   stderr_file=sys.stderr)
    except PapermillExecutionError as e:
        raise NotebookError(f"{notebook.relative_to(REPO)} failed (executed copy with the traceback: {output}): "
                            f"{e.ename}: {e.evalue}") from None


def export_html(executed: Path, target: Path) -> Path:
    """One self-contained HTML file (figures embedded), code cells hidden."""
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                           embed_images=True).from_notebook_node(nbformat.read(executed, as_version=4))
    target.write_text(body)
    return target


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
    target.write_bytes(pdf)
    return target


def resolve_data(data_dir: str | Path | None, synth_dir: Path) -> Path:
    """The data folder to use: ``data_dir`` when given, else synthetic demo data (written once)."""
    if data_dir:
        path = Path(data_dir).expanduser().resolve()
        split_dirs(path)
        return path
    print(f"no DATA_DIR given: using synthetic demo data in {synth_dir}", flush=True)
    return write_dataset(synth_dir).resolve()


def check_overrides(overrides: dict[str, Any]) -> None:
    known = set(RunConfig().to_dict()) - PIPELINE_OWNED
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"--set: unknown or pipeline-owned parameter(s) {', '.join(unknown)}; "
                          f"settable: {', '.join(sorted(known))}")


def refuse_slow_training(preset: str, data: Path, runs_dir: Path, force: bool, overrides: dict[str, Any]) -> None:
    """The course preset on a machine without CUDA: only finished runs may be reused, nothing trained."""
    if preset != "course" or torch.cuda.is_available():
        return
    data_fingerprint = fingerprint(data)
    todo = [model for model in REPORT_MODELS if run_state(
        RunConfig.from_parameters(preset, model=model, data_dir=str(data), run_dir=str(runs_dir / model), **overrides),
        data_fingerprint, force) != "finished"]
    if todo:
        raise ConfigError(f"the course preset (512 px, 20 epochs) takes hours per model without a GPU, and this "
                          f"machine has none; not yet trained in {runs_dir}: {', '.join(todo)}. Train them on a GPU "
                          "(README: the real-data report) or pass --allow-cpu")


def build_report(preset: str = "demo", data_dir: str | Path | None = None, report_dir: str | Path = "report",
                 runs_dir: str | Path | None = None, force: bool = False, overrides: dict[str, Any] | None = None,
                 synth_dir: str | Path = REPO / "data" / "synthetic", pdf: bool = True,
                 allow_cpu: bool = False) -> dict[str, Path | None]:
    """Train the three models (or reuse their runs) and render the report; returns the files written."""
    overrides = overrides or {}
    check_overrides(overrides)
    if preset not in PRESETS:
        raise ConfigError(f"preset: unknown value {preset!r}; choose one of {', '.join(PRESETS)}")
    data = resolve_data(data_dir, Path(synth_dir))
    source = "synthetic" if is_synthetic(data) else "real"
    runs_dir = Path(runs_dir or REPO / "runs" / f"{preset}-{source}").resolve()
    if not allow_cpu:
        refuse_slow_training(preset, data, runs_dir, force, overrides)
    report_dir = Path(report_dir).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    for model in REPORT_MODELS:
        started = time.perf_counter()
        parameters = {"preset": preset, "model": model, "data_dir": str(data), "run_dir": str(runs_dir / model),
                      "force": force, **overrides}
        execute(NOTEBOOKS / "train.ipynb", report_dir / f"train_{model}.ipynb", parameters)
        timings[model] = time.perf_counter() - started
    executed = report_dir / "report.ipynb"
    results = report_dir / "results.json"
    execute(NOTEBOOKS / "report.ipynb", executed,
            {"runs_dir": str(runs_dir), "data_dir": str(data), "results_path": str(results)})
    files = {"report": executed, "results": results, "html": export_html(executed, report_dir / "report.html"),
             "pdf": export_pdf(executed, report_dir / "report.pdf") if pdf else None}
    print("notebook wall time: " + ", ".join(f"{m} {s:.0f} s" for m, s in timings.items()), flush=True)
    print("report: " + ", ".join(str(p) for p in files.values() if p), flush=True)
    return files


def parse_set(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON (``2``, ``[1, 2]``, ``null``), else kept as text."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}: expected key=value")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="demo", help="demo (CPU minutes, default) or course (512 px, 20 epochs)")
    parser.add_argument("--data-dir", default=None, help="real data folder with train/ and validation/ (default: synthetic)")
    parser.add_argument("--report-dir", default="report")
    parser.add_argument("--runs-dir", default=None, help="default runs/<preset>-<real|synthetic>")
    parser.add_argument("--force", action="store_true", help="retrain; finished runs are archived, not deleted")
    parser.add_argument("--no-pdf", action="store_true")
    parser.add_argument("--allow-cpu", action="store_true", help="let the course preset train without a GPU (hours)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="run parameters, e.g. epochs=5")
    args = parser.parse_args(argv)
    build_report(args.preset, args.data_dir, args.report_dir, args.runs_dir, args.force, parse_set(args.set),
                 pdf=not args.no_pdf, allow_cpu=args.allow_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
