"""The numeric core of training and inference: device and precision, one epoch, predictions.

The fast path (CUDA): bf16 autocast, channels_last, TF32, cudnn autotuning, batches gathered
from a split that already lives on the GPU as uint8, augmentation and normalisation there, and
no host synchronisation per step (the loss is accumulated on the device and read every
``sync_every`` steps). On a CPU: bf16 autocast and channels_last where the CPU has native bf16
instructions, float32 elsewhere, and freed memory kept in the C heap (``cpu_heap``); fused
optimizer steps on both.
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .colors import NUM_CLASSES
from .cpu_heap import retain_freed_memory
from .data import Split
from .errors import ConfigError, TrainingError
from .metrics import ConfusionMatrix
from .transforms import normalize, random_crop, random_dihedral


@dataclass(frozen=True)
class Runtime:
    """Where and how tensors are computed."""

    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None = plain float32
    channels_last: bool

    @classmethod
    def create(cls, device: str = "auto", precision: str = "auto") -> "Runtime":
        """``device``: auto/cpu/cuda[:N]; ``precision``: auto, fp32 or bf16.

        ``auto`` is bf16 autocast on CUDA and on CPUs with native bf16 instructions (AVX512-BF16 or
        AMX), float32 elsewhere: a CPU without them emulates bf16 hundreds of times slower.
        """
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device: 'cuda' was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
        native_bf16 = dev.type == "cuda" or cpu_has_native_bf16()
        if precision == "auto":
            precision = "bf16" if native_bf16 else "fp32"
        if precision == "bf16" and not native_bf16:
            raise ConfigError("precision: bf16 needs CUDA or a CPU with AVX512-BF16/AMX instructions; this CPU "
                              "would emulate it (hundreds of times slower than float32): use fp32 or auto")
        fast = precision == "bf16"
        if dev.type == "cpu":
            retain_freed_memory()
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = fast
            torch.backends.cudnn.allow_tf32 = fast
        return cls(dev, torch.bfloat16 if fast else None, channels_last=fast)

    @property
    def precision(self) -> str:
        return "bf16" if self.amp_dtype is torch.bfloat16 else "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def prepare(self, model: nn.Module) -> nn.Module:
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, 3, H, W)`` on any device -> normalised float input on this device."""
        x = normalize(images.to(self.device, non_blocking=True))
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (the ``avx512_bf16`` or ``amx_bf16`` flag in /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume no
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class NonFiniteLoss(TrainingError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class EpochStats:
    loss: float
    seconds: float
    images: int


def class_weights(labels: torch.Tensor, scheme: str) -> torch.Tensor | None:
    """Loss weights per class: None for ``"none"``; ``"inverse_sqrt"``: 1/sqrt(frequency), mean 1."""
    if scheme == "none":
        return None
    counts = torch.bincount(labels.reshape(-1).long(), minlength=NUM_CLASSES).double()
    present = counts > 0
    weights = torch.zeros(NUM_CLASSES, dtype=torch.float64, device=labels.device)
    weights[present] = (counts[present] / counts.sum()).rsqrt()
    return (weights / weights[present].mean()).float()


def train_one_epoch(
    model: nn.Module,
    split: Split,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    runtime: Runtime,
    batch_size: int,
    generator: torch.Generator,
    epoch: int,
    augment: bool = True,
    loss_weights: torch.Tensor | None = None,
    crop_size: int | None = None,
    sync_every: int = 20,
    on_progress: Callable[[int, float], None] | None = None,
) -> EpochStats:
    """One pass over ``split`` (already on ``runtime.device``) in shuffled batches (last partial dropped),
    each image as a random ``crop_size`` window when that is given.

    ``model`` may be a torch.compile'd wrapper. Raises :class:`NonFiniteLoss` naming the epoch and step.
    ``on_progress(steps_done, mean_loss)`` is called at each synchronisation point.
    """
    model.train()
    n = len(split)
    steps = max(1, n // batch_size)
    order = torch.randperm(n, generator=generator)
    loss_sum = torch.zeros((), device=runtime.device)
    first_bad = torch.full((), -1, device=runtime.device, dtype=torch.long)
    start = time.perf_counter()

    def check(done: int) -> float:
        if int(first_bad) >= 0:
            raise NonFiniteLoss(f"the loss became NaN or infinite at epoch {epoch}, step {int(first_bad) + 1} of {steps}")
        mean = float(loss_sum) / done
        if on_progress is not None:
            on_progress(done, mean)
        return mean

    for step in range(steps):
        index = order[step * batch_size : (step + 1) * batch_size].to(runtime.device, non_blocking=True)
        images, labels = split.images[index], split.labels[index]
        if crop_size is not None:
            images, labels = random_crop(images, labels, crop_size, generator)
        if augment:
            images, labels = random_dihedral(images, labels, generator)
        with runtime.autocast():
            logits = model(runtime.inputs(images))
        loss = F.cross_entropy(logits.float(), labels.long(), weight=loss_weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss = loss.detach()
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
        loss_sum += loss
        if (step + 1) % sync_every == 0 and step + 1 < steps:
            check(step + 1)
    mean_loss = check(steps)
    runtime.synchronize()
    return EpochStats(mean_loss, time.perf_counter() - start, steps * min(batch_size, n))


@torch.no_grad()
def predict_labels(model: nn.Module, images: torch.Tensor, runtime: Runtime, batch_size: int = 16) -> torch.Tensor:
    """uint8 ``(N, H, W)`` predicted labels of uint8 images ``(N, 3, H, W)``, on ``runtime.device``."""
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        with runtime.autocast():
            logits = model(runtime.inputs(images[i : i + batch_size]))
        out.append(logits.argmax(1).to(torch.uint8))
    return torch.cat(out)


def evaluate(model: nn.Module, split: Split, runtime: Runtime, batch_size: int = 16) -> tuple[ConfusionMatrix, torch.Tensor]:
    """The confusion matrix over the whole split, and the predicted labels."""
    pred = predict_labels(model, split.images, runtime, batch_size)
    matrix = ConfusionMatrix(device=runtime.device)
    matrix.update(split.labels.to(runtime.device), pred)
    return matrix, pred


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float,
                   fused: bool = True) -> torch.optim.Optimizer:
    """AdamW or SGD with momentum 0.9, by default in their fused kernels (one pass over all parameters).

    Measured on a 2-core CPU, FCN8s (40.7 M parameters): a fused AdamW step takes 25 ms, the
    default multi-tensor one 217 ms; on CUDA the fused kernel is one launch.
    """
    fused = fused or None  # None: torch's default (multi-tensor) implementation
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay, fused=fused)
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=fused)


def make_scheduler(optimizer: torch.optim.Optimizer, name: str, lr: float, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=0.2)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def seconds_to_text(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
