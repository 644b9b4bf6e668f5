"""Where the project's folders lie, and paths as a reader of the report can use them."""
from __future__ import annotations

import os
from pathlib import Path

#: the repository root (hw_lib is installed in editable mode, so this is the checkout)
REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
#: where ./run_all.sh writes its reports (tracked output, not code)
REPORTS = "report"
RUNS = "runs"


def lexical_absolute(path: str | Path) -> Path:
    """``path`` made absolute with ``..`` removed by name, symlinks kept: a ``../shared`` that is a
    link to another disk still reads as ``../shared``."""
    return Path(os.path.abspath(Path(path).expanduser()))


def enter_repo() -> Path:
    """Make the repository root the working directory, so that relative paths read from it whatever
    folder a notebook's kernel started in (Jupyter starts it in ``notebooks/``), and print as given."""
    os.chdir(REPO)
    return REPO


def display_path(path: str | Path) -> str:
    """``path`` as a reader can use it: relative to the repository when it lies in or beside it
    (``data/synthetic``, ``../shared/dlcv_p2_data``, also through a symlink), else as given."""
    for candidate in (lexical_absolute(path), Path(path).expanduser().resolve()):
        if candidate.is_relative_to(REPO.parent):
            return os.path.relpath(candidate, REPO)
    return str(path)
