"""Where and how tensors are computed: the device, the precision and the memory layout.

``precision="auto"`` is bf16 autocast + channels_last on CUDA and float32 on a CPU, so a preset
computes the same arithmetic on every CPU kind; ``"bf16"`` on a CPU is allowed where the CPU has
native bf16 instructions (AVX512-BF16 or AMX), refused where it would emulate them.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError
from .transforms import normalize


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (the ``avx512_bf16`` or ``amx_bf16`` flag in /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume no
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


@dataclass(frozen=True)
class Runtime:
    """Where and how tensors are computed."""

    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None = plain float32
    channels_last: bool

    @classmethod
    def create(cls, device: str = "auto", precision: str = "auto") -> Runtime:
        """``device``: auto/cpu/cuda[:N]; ``precision``: auto, fp32 or bf16 (see the module's docstring)."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device: 'cuda' was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
        if precision == "auto":
            precision = "bf16" if dev.type == "cuda" else "fp32"
        if precision == "bf16" and dev.type == "cpu" and not cpu_has_native_bf16():
            raise ConfigError("precision: bf16 needs CUDA or a CPU with AVX512-BF16/AMX instructions; this CPU "
                              "would emulate it (hundreds of times slower than float32): use fp32 or auto")
        bf16 = precision == "bf16"
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = bf16
            torch.backends.cudnn.allow_tf32 = bf16
        return cls(dev, torch.bfloat16 if bf16 else None, channels_last=bf16)

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
