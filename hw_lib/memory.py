"""Out of memory: the training batch that fits a card by this project's measurement, and the one
line a run that ran out of memory stops with."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .config import RunConfig
from .models import DISPLAY_NAMES
from .runtime import BF16_CAPABILITY, PRECISION_TEXT, Runtime, describe_device

GIB = 1024**3
#: activations an FCN8s training step (forward + backward, float32) keeps per image, in GiB, by side:
#: measured in this project (issue #25; docs/performance.md, "Memory"). FCN32s and FCN16s keep a little less.
MEASURED_ACTIVATIONS_GIB = {256: 0.25, 512: 0.53}
#: FCN8s's weights, gradients and AdamW's two moments: 40.7 M float32 parameters x 16 bytes
STATE_GIB = 0.6
#: the share of a card's memory a run can count on (the CUDA context and fragmentation take the rest)
USABLE_SHARE = 0.9


def activation_gib(side: int, precision: str) -> float:
    """GiB of activations one training image of ``side`` px keeps: linear in its pixels through the two
    measured sides (``MEASURED_ACTIVATIONS_GIB``), halved under fp16/bf16 autocast."""
    (small, small_gib), (large, large_gib) = sorted(MEASURED_ACTIVATIONS_GIB.items())
    per_pixel = (large_gib - small_gib) / (large**2 - small**2)
    gib = small_gib + per_pixel * (side**2 - small**2)
    return gib / 2 if precision in ("fp16", "bf16") else gib


def batch_size_that_fits(side: int, precision: str, memory_bytes: int) -> int:
    """The largest training batch of ``side`` px images that fits in ``memory_bytes`` by this estimate
    (0: not even one)."""
    room = USABLE_SHARE * memory_bytes / GIB - STATE_GIB
    return max(0, int(room // activation_gib(side, precision)))


def device_memory(device: torch.device) -> int | None:
    """Bytes of the CUDA card's memory, or of the machine's RAM for a CPU; None where unknown."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def _half_precision(runtime: Runtime) -> str | None:
    """The autocast precision to suggest instead of float32 on this card (none on a CPU)."""
    if runtime.precision != "fp32" or runtime.device.type != "cuda":
        return None
    return "bf16" if torch.cuda.get_device_capability(runtime.device) >= BF16_CAPABILITY else "fp16"


def _batch_advice(config: RunConfig, side: int, precision: str, memory: int | None) -> str | None:
    """A smaller training batch to try, or why none is suggested."""
    if memory is None or config.batch_size == 1:
        return None
    fits = batch_size_that_fits(side, precision, memory)
    if fits == 0:
        return f"not even one {side} px image fits by this project's estimate: lower image_size or crop_size"
    if fits >= config.batch_size:  # the estimate was wrong here, or something else holds memory
        half = config.batch_size // 2
        return (f"try a batch of {half} ({_flags(half)}; this project's estimate says {config.batch_size} fits, so "
                "something else may hold memory)")
    return f"a batch of {fits} fits by this project's estimate ({_flags(fits)})"


def _flags(batch_size: int) -> str:
    return f"batch_size={batch_size}: --batch-size {batch_size}, or --set batch_size={batch_size} for run_all.sh"


def out_of_memory_message(phase: str, epoch: int, config: RunConfig, side: int, runtime: Runtime,
                          checkpoint: Path, eval_batch: int) -> str:
    """The one line a run stops with when ``phase`` (``training``, ``validation`` or ``final scoring``)
    of ``epoch`` ran out of memory: what ran, on what, what is kept, and what to change.

    ``side`` is the side of the images that phase computed on; validation and scoring predict
    ``eval_batch`` images at a time, whatever ``batch_size`` is.
    """
    memory = device_memory(runtime.device)
    held = "unknown memory" if memory is None else (
        f"{memory / GIB:.1f} GiB" + (" of RAM" if runtime.device.type == "cpu" else ""))
    model, precision = DISPLAY_NAMES[config.model], runtime.precision
    if phase == "training":
        what = f"training epoch {epoch} of {config.epochs} ({model}, batch size {config.batch_size}, {side} px"
    else:
        what = (f"{phase} after epoch {epoch} of {config.epochs} ({model}, {eval_batch} images of {side} px at a "
                "time whatever batch_size is")
    last = epoch if phase == "final scoring" else epoch - 1
    kept = (f"nothing is lost: {checkpoint} keeps epoch {last}, and the same command resumes after it (it runs out "
            "again unless something else held the memory)" if last >= 1 else "no epoch had finished yet")
    half = _half_precision(runtime)
    advice = [f"{PRECISION_TEXT[half]} halves the activations (precision={half})"] if half else []
    if phase == "training":
        advice.append(_batch_advice(config, side, precision, memory))
    advice = [a for a in advice if a]
    change = ("; ".join(advice) + f"; a change of config starts a new run at epoch 1 (this one is kept as "
              f"{config.run_dir}.archived-<time>)") if advice else \
        "free the memory other processes hold and run the same command"
    return (f"out of memory in {what}, {PRECISION_TEXT[precision]}, on {describe_device(runtime.device)} with "
            f"{held}); {kept}. To fit: {change}")
