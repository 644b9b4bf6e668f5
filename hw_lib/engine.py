"""The numeric core of training and inference: one epoch, predictions, optimizers.

The fast path (CUDA): the whole split lives on the GPU as uint8, batches are gathered, augmented
and normalised there, and the host never waits per step (the loss is accumulated on the device
and read every ``sync_every`` steps). Optimizer steps use the fused kernels (one pass over all
parameters, on the CPU too).

float16 (``precision="fp16"``) trains through a gradient scaler: the loss is scaled up so small
gradients survive float16, and a step whose gradients overflow is skipped (neither the weights
nor the optimizer's step count move) while the scale is halved. The learning-rate
schedule advances on every step, taken or skipped: it counts training steps, as the data does.
A non-finite loss in float16 (an activation beyond float16's 65504) is such a skipped step; only
``FP16_NONFINITE_LIMIT`` of them in a row (or a whole epoch of them) count as divergence. In
float32 and bf16 the first non-finite loss does.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .colors import NUM_CLASSES
from .data import Split, resize_image
from .metrics import ConfusionMatrix
from .models import FCN
from .runtime import Runtime
from .transforms import random_crop, random_dihedral

#: float16 steps in a row with a non-finite loss (each skipped by the gradient scaler) that stop training
FP16_NONFINITE_LIMIT = 10
#: images per forward pass of validation and scoring
PREDICT_BATCH = 16


class NonFiniteLoss(Exception):
    """The loss became NaN or infinite (``fit`` turns it into a TrainingError that names the checkpoint)."""


@dataclass(frozen=True)
class EpochStats:
    loss: float  # mean over the steps with a finite loss
    seconds: float
    images: int
    skipped: int = 0  # float16 steps with a non-finite loss, skipped by the gradient scaler


@dataclass(frozen=True)
class Batches:
    """How an epoch draws its training batches and weighs their loss."""

    size: int
    augment: bool = True
    crop_size: int | None = None  # train on random windows of this side
    loss_weights: torch.Tensor | None = None  # per class, on the split's device


@dataclass(frozen=True)
class Optimization:
    """The optimizer, its per-step learning-rate schedule and, for float16, the gradient scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None = None

    def step(self, loss: torch.Tensor) -> None:
        """Backward, optimizer step (through the scaler, which skips a step whose gradients overflow) and
        schedule step."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with warnings.catch_warnings():  # a skipped first step (unfused optimizer): the schedule still counts it
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.scheduler.step()

    @property
    def lr(self) -> float:
        """The current learning rate of the last parameter group (the layers the backbone does not have)."""
        return self.scheduler.get_last_lr()[-1]


def class_weights(labels: torch.Tensor, scheme: str) -> torch.Tensor | None:
    """Loss weights per class: None for ``"none"``; ``"inverse_sqrt"``: 1/sqrt(frequency), mean 1."""
    if scheme == "none":
        return None
    counts = torch.bincount(labels.reshape(-1).long(), minlength=NUM_CLASSES).double()
    present = counts > 0
    weights = torch.zeros(NUM_CLASSES, dtype=torch.float64, device=labels.device)
    weights[present] = (counts[present] / counts.sum()).rsqrt()
    return (weights / weights[present].mean()).float()


def steps_per_epoch(pairs: int, batch_size: int) -> int:
    """Training steps of one epoch: full batches only (the last partial one is dropped), at least one."""
    return max(1, pairs // batch_size)


def train_one_epoch(model: nn.Module, split: Split, batches: Batches, optim: Optimization, runtime: Runtime,
                    generator: torch.Generator, epoch: int, sync_every: int = 20,
                    on_progress: Callable[[int, float], None] | None = None) -> EpochStats:
    """One pass over ``split`` (already on ``runtime.device``) in shuffled batches (last partial dropped).

    ``model`` may be a torch.compile'd wrapper. Raises :class:`NonFiniteLoss` naming the epoch and step
    (with a gradient scaler: after ``FP16_NONFINITE_LIMIT`` skipped steps in a row, see the module's
    docstring). ``on_progress(steps_done, mean_loss)`` is called at each synchronisation point.
    """
    model.train()
    n = len(split)
    steps = steps_per_epoch(n, batches.size)
    limit = 1 if optim.scaler is None else min(FP16_NONFINITE_LIMIT, steps)
    order = torch.randperm(n, generator=generator)
    zero = torch.zeros((), device=runtime.device, dtype=torch.long)
    loss_sum, finite_steps = torch.zeros((), device=runtime.device), zero.clone()
    streak, first_bad = zero.clone(), zero - 1  # non-finite losses in a row; the step where they reached limit
    start = time.perf_counter()

    def check(done: int) -> float:
        if int(first_bad) >= 0:
            where = f"epoch {epoch}, step {int(first_bad) + 1} of {steps}"
            if optim.scaler is None:
                raise NonFiniteLoss(f"the loss became NaN or infinite at {where}")
            raise NonFiniteLoss(f"the loss was NaN or infinite in {limit} float16 step{'s' * (limit > 1)} in a row "
                                f"(each skipped by the gradient scaler), the last at {where}")
        mean = float(loss_sum) / max(1, int(finite_steps))
        if on_progress is not None:
            on_progress(done, mean)
        return mean

    for step in range(steps):
        index = order[step * batches.size : (step + 1) * batches.size].to(runtime.device, non_blocking=True)
        images, labels = split.images[index], split.labels[index]
        if batches.crop_size is not None:
            images, labels = random_crop(images, labels, batches.crop_size, generator)
        if batches.augment:
            images, labels = random_dihedral(images, labels, generator)
        with runtime.autocast():
            logits = model(runtime.inputs(images))
        loss = F.cross_entropy(logits.float(), labels.long(), weight=batches.loss_weights)
        optim.step(loss)
        loss = loss.detach()
        finite = torch.isfinite(loss)
        streak = torch.where(finite, 0, streak + 1)
        first_bad = torch.where((first_bad < 0) & (streak >= limit), step, first_bad)
        loss_sum += torch.where(finite, loss, 0.0)
        finite_steps += finite
        if (step + 1) % sync_every == 0 and step + 1 < steps:
            check(step + 1)
    mean_loss = check(steps)
    runtime.synchronize()
    return EpochStats(mean_loss, time.perf_counter() - start, steps * min(batches.size, n),
                      skipped=steps - int(finite_steps))


@torch.no_grad()
def predict_labels(model: nn.Module, images: torch.Tensor, runtime: Runtime, batch_size: int = PREDICT_BATCH,
                   drop: Collection[str] = (), size: tuple[int, int] | None = None) -> torch.Tensor:
    """uint8 ``(N, H, W)`` predicted labels of uint8 images ``(N, 3, H, W)``, on ``runtime.device``.

    ``drop`` names skip connections to leave out (see ``FCN.SKIPS``); it needs the plain model.
    With ``size`` the class scores are upsampled bilinearly to ``(H, W) = size`` before the argmax, as
    torchvision's segmentation references do: the labels follow the scores between the pixels of a
    smaller input instead of repeating each one as a block.
    """
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = runtime.inputs(images[i : i + batch_size])
        with runtime.autocast():
            logits = model(x, drop=drop) if drop else model(x)
        if size is not None and logits.shape[-2:] != size:
            logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
        out.append(logits.argmax(1).to(torch.uint8))
    return torch.cat(out)


def predict_split(model: nn.Module, split: Split, runtime: Runtime, batch_size: int = PREDICT_BATCH,
                  drop: Collection[str] = ()) -> tuple[ConfusionMatrix, torch.Tensor]:
    """The confusion matrix over the whole split, and the predicted labels."""
    pred = predict_labels(model, split.images, runtime, batch_size, drop)
    matrix = ConfusionMatrix(device=runtime.device)
    matrix.update(split.labels.to(runtime.device), pred)
    return matrix, pred


def predict_image(model: FCN, image: np.ndarray, runtime: Runtime, image_size: int | None = None) -> np.ndarray:
    """``(H, W)`` uint8 labels of one ``(H, W, 3)`` uint8 image, at the image's own size.

    With ``image_size`` the image is resized as in training (``data.resize_image``) and the class
    scores are upsampled bilinearly back to the image's size before the argmax.
    """
    resized = image if image_size is None else resize_image(image, image_size)
    x = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)[None]
    return predict_labels(model, x, runtime, size=image.shape[:2])[0].cpu().numpy()


def make_optimizer(model: FCN, name: str, lr: float, weight_decay: float, backbone_lr_scale: float = 1.0,
                   fused: bool = True) -> torch.optim.Optimizer:
    """AdamW or SGD with momentum 0.9, by default in their fused kernels.

    With ``backbone_lr_scale`` below 1 the VGG16 ``features`` form a parameter group of their own at
    ``lr * backbone_lr_scale`` (the last group is always the new layers, at ``lr``).
    """
    features = list(model.features.parameters())
    if backbone_lr_scale == 1.0:
        groups = [{"params": list(model.parameters())}]
    else:
        owned = {id(p) for p in features}
        groups = [{"params": features, "lr": lr * backbone_lr_scale},
                  {"params": [p for p in model.parameters() if id(p) not in owned]}]
    fused = fused or None  # None: torch's default (multi-tensor) implementation
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=weight_decay, fused=fused)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=fused)


def make_scheduler(optimizer: torch.optim.Optimizer, name: str,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step schedule of every parameter group from its own learning rate: one-cycle (20% warm-up),
    cosine or constant."""
    if name == "onecycle":
        peaks = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total_steps, pct_start=0.2)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def make_optimization(model: FCN, name: str, lr: float, weight_decay: float, schedule: str, total_steps: int,
                      backbone_lr_scale: float = 1.0, fused: bool = True,
                      scaler: torch.amp.GradScaler | None = None) -> Optimization:
    """The optimizer and its schedule for ``total_steps`` training steps, stepping through ``scaler``
    (``Runtime.grad_scaler()``: float16) when given."""
    optimizer = make_optimizer(model, name, lr, weight_decay, backbone_lr_scale, fused)
    return Optimization(optimizer, make_scheduler(optimizer, schedule, total_steps), scaler)
