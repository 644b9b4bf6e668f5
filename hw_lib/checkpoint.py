"""Checkpoints that carry their config, so a run resumes exactly and predict needs nothing else."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import atomic
from .config import RunConfig
from .errors import CheckpointError
from .models import FCN, build_model, model_class

FORMAT = "hw_lib.checkpoint/1"


def save_checkpoint(path: str | Path, model: nn.Module, config: RunConfig, epoch: int,
                    extra: dict[str, Any] | None = None) -> None:
    """Write model weights, config and epoch (plus ``extra``: optimizer, history...) atomically."""
    state = {"format": FORMAT, "model_name": config.model, "config": config.to_dict(), "epoch": epoch,
             "model": model.state_dict(), **(extra or {})}
    atomic.torch_save(path, state)


def _read(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: is not a checkpoint (torch.load failed: {type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]})") from None


def _is_checkpoint(state: Any) -> bool:
    return isinstance(state, dict) and state.get("format") == FORMAT


def _checked(state: Any, path: Path, expected_model: str | None) -> dict[str, Any]:
    if not _is_checkpoint(state):
        raise CheckpointError(f"{path}: is not an hw_lib checkpoint (no '{FORMAT}' marker); use the "
                              "checkpoint.pt or model.pt of a run directory, or name the model of a bare state_dict")
    if expected_model is not None and state["model_name"] != expected_model:
        raise CheckpointError(f"{path}: is a checkpoint of {state['model_name']}, not of {expected_model}")
    return state


def load_checkpoint(path: str | Path, expected_model: str | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, refusing anything else clearly."""
    path = Path(path)
    return _checked(_read(path), path, expected_model)


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str | Path) -> None:
    """``model.load_state_dict`` with an error that names the file and the mismatch."""
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, AttributeError) as e:
        lines = str(e).splitlines()
        detail = lines[1].strip() if len(lines) > 1 else str(e)
        raise CheckpointError(f"{source}: its weights do not fit {type(model).__name__} ({detail[:300]})") from None


def model_from_checkpoint(path: str | Path, model_name: str | None = None) -> tuple[FCN, RunConfig | None]:
    """The trained model in ``path`` (on the CPU) and its config.

    ``path`` is an hw_lib checkpoint, or a bare state_dict when ``model_name`` says which model
    it belongs to (its config is then None). Mismatches raise :class:`CheckpointError`.
    """
    path = Path(path)
    if model_name is not None:
        model_class(model_name)  # an unknown name is refused before the file is read
    state = _read(path)
    if _is_checkpoint(state) or model_name is None or not isinstance(state, dict):
        state = _checked(state, path, model_name)
        config = RunConfig.from_dict(state["config"])
        model_name, weights = config.model, state["model"]
    else:  # a bare state_dict of the named model
        config, weights = None, state
    model = build_model(model_name)
    load_weights(model, weights, path)
    return model, config
