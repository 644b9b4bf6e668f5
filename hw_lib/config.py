"""``RunConfig``: every parameter of a training run, its presets and its validation.

One config travels from a notebook's parameters or the CLI's flags into :func:`hw_lib.train.fit`
and is stored in the run directory and in every checkpoint.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .data import SAMPLE_IDS, data_source
from .errors import ConfigError
from .models import MODELS, SIDE_RULE, valid_side
from .paths import RUNS
from .runtime import PRECISIONS

#: a parameter's value meaning "the preset's value" (for ``run_dir``: ``runs/<preset>-<source>/<model>``).
#: None is a value of its own: ``image_size=None`` trains on whole images.
DEFAULT = "default"
DEVICES = ("auto", "cpu", "cuda")
#: fields that do not make a run a different run
EXECUTION_DETAILS = ("run_dir", "data_dir", "compile")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
CLASS_WEIGHTINGS = ("none", "inverse_sqrt")


@dataclass
class RunConfig:
    """A training run. Defaults are the CPU demo; see ``PRESETS`` for the others."""

    model: str = "fcn8s"
    data_dir: str = "data/synthetic"
    run_dir: str = "runs/demo-synthetic/fcn8s"
    epochs: int = 14
    batch_size: int = 2
    lr: float = 1e-4
    backbone_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    schedule: str = "onecycle"
    image_size: int | None = 96
    crop_size: int | None = None
    train_limit: int | None = None
    val_limit: int | None = None
    augment: bool = True
    class_weighting: str = "none"
    snapshot_epochs: list[int] | None = None
    sample_ids: list[str] = field(default_factory=lambda: list(SAMPLE_IDS))
    weights: str = "none"
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    seed: int = 0

    def validate(self) -> RunConfig:
        """This config, checked and with derived values filled in (``snapshot_epochs``).

        Raises :class:`ConfigError` naming the first parameter of a wrong type or value.
        """
        for name, (kind, optional) in field_types().items():
            _check_type(name, getattr(self, name), kind, optional)
        _check_choice("model", self.model, MODELS)
        for name, choices in (("device", DEVICES), ("precision", PRECISIONS), ("optimizer", OPTIMIZERS),
                              ("schedule", SCHEDULES), ("class_weighting", CLASS_WEIGHTINGS)):
            _check_choice(name, getattr(self, name), choices)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in ("train_limit", "val_limit"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1 or None, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.backbone_lr_scale <= 0:
            raise ConfigError(f"lr and backbone_lr_scale must be > 0 and weight_decay >= 0, got lr={self.lr}, "
                              f"backbone_lr_scale={self.backbone_lr_scale}, weight_decay={self.weight_decay}")
        if self.image_size is not None and not valid_side(self.image_size):
            raise ConfigError(f"image_size: {self.image_size} does not work; use {SIDE_RULE}, or None")
        if self.crop_size is not None and (not valid_side(self.crop_size)
                                           or (self.image_size is not None and self.crop_size > self.image_size)):
            raise ConfigError(f"crop_size: {self.crop_size} does not work; use {SIDE_RULE}, at most image_size "
                              f"({self.image_size}), or None for whole images")
        if self.snapshot_epochs is None:
            return dataclasses.replace(self, snapshot_epochs=default_snapshot_epochs(self.epochs))
        bad = [e for e in self.snapshot_epochs if not 1 <= e <= self.epochs]
        if bad:
            raise ConfigError(f"snapshot_epochs: {bad} outside 1..{self.epochs} (epochs={self.epochs})")
        if not self.snapshot_epochs:
            raise ConfigError("snapshot_epochs: empty; give at least one epoch, or None for the first, middle and last")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run: everything but where things lie and whether it compiles.

        The data is compared by its fingerprint instead of its path (see ``data.fingerprint``),
        so a run trained on a GPU machine is reused where the same data lies elsewhere.
        """
        return {k: v for k, v in self.to_dict().items() if k not in EXECUTION_DETAILS}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"unknown parameter(s): {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_parameters(cls, preset: str, **parameters: Any) -> RunConfig:
        """A validated config from notebook parameters: the preset, with each parameter that is not
        :data:`DEFAULT` on top (None included: ``image_size=None`` means whole images)."""
        return cls.preset(preset, **parameters).validate()

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RunConfig:
        """A config from a preset (one of ``PRESETS``) with the ``overrides`` that are not :data:`DEFAULT` on
        top. A preset is one recipe for every model, so the models it trains compare fairly. ``run_dir``, unless
        given, is ``runs/<preset>-<source>/<model>``, as ``./run_all.sh`` names it (source: real or synthetic)."""
        if not isinstance(name, str):
            raise ConfigError(f"preset: expected str, got {name!r} ({type(name).__name__})")
        _check_choice("preset", name, PRESETS)
        given = {k: v for k, v in overrides.items() if not (isinstance(v, str) and v == DEFAULT)}
        model = given.get("model", cls.model)
        values = {**PRESETS[name], **given}
        if "run_dir" not in values and isinstance(model, str):
            data_dir = values.get("data_dir", cls.data_dir)
            values["run_dir"] = default_run_dir(name, model, data_dir)
        return cls.from_dict(values)


#: what each parameter means (the CLI's --help)
HELP = {
    "model": "fcn32s, fcn16s or fcn8s",
    "data_dir": "folder holding train/ and validation/ (NNNN_sat.jpg + NNNN_mask.png)",
    "run_dir": "where the run is written (reused if finished with the same config, resumed if not); default "
               "runs/<preset>-<real|synthetic>/<model>",
    "epochs": "training epochs",
    "batch_size": "images per training step",
    "lr": "peak learning rate (of every layer; with backbone_lr_scale below 1, of the layers added to VGG16)",
    "backbone_lr_scale": "the VGG16 backbone's learning rate as a fraction of lr (below 1 to fine-tune "
                         "pretrained weights)",
    "weight_decay": "weight decay",
    "optimizer": "adamw or sgd (momentum 0.9)",
    "schedule": "onecycle, cosine or constant (per step)",
    "image_size": f"resize to this square side ({SIDE_RULE}); none keeps the files' size",
    "crop_size": "train on random square crops of this side (as image_size, at most image_size); "
                 "validation and scoring see whole images; none trains on whole images",
    "train_limit": "use only the first N training pairs",
    "val_limit": "use only the first N validation pairs (the sample ids are always kept)",
    "augment": "random flips and 90-degree rotations",
    "class_weighting": "none, or inverse_sqrt: weight the loss by 1/sqrt(class frequency)",
    "snapshot_epochs": "epochs whose predicted masks of the sample ids are saved (default: first, middle, last)",
    "sample_ids": "validation ids whose masks are saved",
    "weights": "VGG16 backbone: imagenet (torchvision), the path of a VGG16 state_dict, or none",
    "device": "auto (CUDA when present), cpu or cuda",
    "precision": "auto: on CUDA by compute capability, bf16 autocast from 8.0, fp16 autocast + gradient scaler on "
                 "7.x, fp32 below 7.0; fp32 on a CPU. Or fp32; bf16 (CUDA 8.0+, or a CPU with AVX512-BF16/AMX: "
                 "allowed there, not necessarily faster: measure it); fp16 (any CUDA card; on a CPU to test the "
                 "float16 path: not faster than fp32 unless measured, emulated without AVX512-FP16/AMX-FP16)",
    "compile": "torch.compile the model (for CUDA; not part of a run's identity)",
    "seed": "seed of initialisation, shuffling, augmentation and dropout",
}

REAL_DATA = "../shared/dlcv_p2_data"
#: The reference's geometry (thtang/DLCV2018SPRING hw3, whose numbers the homework write-up reports): 256 px
#: inputs, scored at the masks' 512 px, 20 epochs (the write-up's mask table names epochs 1, 10 and 20). Two
#: choices differ from its code, for a reason: images are resized with an antialiased bilinear filter where it
#: kept every second pixel (dropping three of four pixels aliases fine texture), and inputs are normalised with
#: ImageNet's mean and standard deviation where it divided by 255, because torchvision's VGG16 weights were
#: trained on so normalised inputs. 512 px is one override away: --set image_size=512 (4x the compute).
_COURSE = {"epochs": 20, "image_size": 256, "batch_size": 16, "lr": 3e-4, "data_dir": REAL_DATA}

#: Starting values of a run; a run's own parameters go on top. On a CPU ``precision="auto"`` is float32,
#: so a preset computes the same on every CPU kind (bf16 is an explicit choice).
PRESETS: dict[str, dict[str, Any]] = {
    # minutes on a 2-core CPU with synthetic data: the defaults above
    "demo": {},
    # the real data on a 2-core CPU, the three models within an hour: whole scenes at 64 px, 5 epochs. Peak lr
    # 5e-4 for all three: at 1e-3 FCN32s (one score cell per image) mostly stays on the majority class, at 3e-4
    # FCN8s learns slower; 5e-4 is within a seed's spread of each model's best lr (docs/experiments.md)
    "laptop": {"epochs": 5, "image_size": 64, "batch_size": 16, "lr": 5e-4, "data_dir": REAL_DATA},
    # the homework's setting, a GPU job: ImageNet VGG16 fine-tuned at the reference's 256 px. The reference
    # trains every layer with Adam at 2e-4, batch 64. Here the new layers (fc6, fc7, scores, upsampling)
    # start random, so they learn at 3e-4 while the pretrained backbone learns at a tenth of it
    # (discriminative fine-tuning, as in ULMFiT, Howard & Ruder 2018): their large early gradients would
    # otherwise wash out the ImageNet features the FCN paper builds on (Long et al. 2015 fine-tune every
    # layer from them). AdamW with one-cycle warm-up (20% of the steps) eases the start too, and batch 16
    # takes four times the reference's steps per epoch.
    "course": {**_COURSE, "weights": "imagenet", "backbone_lr_scale": 0.1},
    # the course setting from scratch (no ImageNet weights): every layer at the same lr
    "course-scratch": {**_COURSE, "weights": "none"},
}



def runs_folder(preset: str, source: str) -> str:
    """``runs/<preset>-<source>``, the folder of a preset's runs on real or synthetic data, relative to the
    repository root (``$HW_RUNS_DIR`` instead of ``runs`` where set: the tests' temporary folders)."""
    return f"{os.environ.get('HW_RUNS_DIR', RUNS)}/{preset}-{source}"


def default_run_dir(preset: str, model: str, data_dir: str) -> str:
    """``runs/<preset>-<source>/<model>``: where ``./run_all.sh`` and the train notebook and CLI put a run. A
    data folder not written yet is, for the demo preset, the synthetic data it is about to write."""
    if isinstance(data_dir, str) and os.path.isdir(data_dir):
        source = data_source(data_dir)
    else:
        source = "synthetic" if preset == "demo" else "real"
    return f"{runs_folder(preset, source)}/{model}"


def preset_values(name: str) -> str:
    """A parameter's value in each preset, for ``--help``: ``demo 14, laptop 5, course 20, ...`` (one value
    where all agree)."""
    values = {preset: getattr(RunConfig.preset(preset), name) for preset in PRESETS}
    if len({repr(v) for v in values.values()}) == 1:
        return f"default {_shown(next(iter(values.values())))}"
    return ", ".join(f"{preset} {_shown(v)}" for preset, v in values.items())


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value))
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def default_snapshot_epochs(epochs: int) -> list[int]:
    """The first, middle and last epoch (fewer when they coincide): 12 -> [1, 6, 12], 1 -> [1]."""
    return sorted({1, (epochs + 1) // 2, epochs})


def field_types() -> dict[str, tuple[Any, bool]]:
    """Each field's type without ``| None`` (``int``, ``list[str]``, ...) and whether None is allowed."""
    out = {}
    for name, hint in typing.get_type_hints(RunConfig).items():
        args = typing.get_args(hint)
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
        out[name] = (next(a for a in args if a is not type(None)) if optional else hint, optional)
    return out


def check_bool(name: str, value: Any) -> None:
    """A flag such as ``force`` must be a real bool (a notebook parameter ``"False"`` would be true)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected bool, got {value!r} ({type(value).__name__})")


def _check_choice(name: str, value: Any, choices: typing.Iterable[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}: unknown value {value!r}; choose one of {', '.join(choices)}")


def _check_type(name: str, value: Any, hint: Any, optional: bool) -> None:
    if value is None and optional:
        return
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(value, list) or not all(_is_instance(v, args[0]) for v in value):
            raise ConfigError(f"{name}: expected a list of {args[0].__name__}, got {value!r}")
    elif not _is_instance(value, hint):
        raise ConfigError(f"{name}: expected {hint.__name__}, got {value!r} ({type(value).__name__})")


def _is_instance(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)
