"""Where and how tensors are computed: the device, the precision and the memory layout.

``precision="auto"`` follows the card's compute capability (:func:`auto_cuda_precision`), never
``torch.cuda.is_bf16_supported()``, which says yes where torch emulates bf16 (a T4):

- 8.0 and newer (A100, RTX 30xx, H100): bf16 autocast + channels_last, TF32 for the float32 rest;
- 7.x (V100 7.0, T4 7.5): float16 autocast + channels_last with a gradient scaler (float16 tensor
  cores; their bf16 is emulated);
- below 7.0 (GTX 1080 Ti 6.1): float32 (no tensor cores, so float16 saves memory but not time);
- a CPU: float32, so a preset computes the same arithmetic on every CPU kind.

Asked for explicitly, ``"bf16"`` is refused where it would be emulated: on a CUDA card below 8.0
and on a CPU without native bf16 instructions (AVX512-BF16 or AMX). Native is not fast: on a
Xeon with AVX512-BF16 but no AMX it trained slower than float32 (docs/performance.md).
``"fp16"`` is allowed on every CUDA card and on a CPU, where it is there to test the float16
path: a CPU without AVX512-FP16/AMX-FP16 emulates it (several times slower than float32).
"""
from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError
from .transforms import normalize

#: the autocast dtype of each precision (None: plain float32)
AMP_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = ("auto", *AMP_DTYPES)
#: how logs name each precision
PRECISION_TEXT = {"fp32": "float32", "bf16": "bf16 autocast", "fp16": "fp16 autocast + gradient scaler"}
BF16_CAPABILITY = (8, 0)  # bf16 tensor cores: Ampere and newer
FP16_CAPABILITY = (7, 0)  # float16 tensor cores: Volta and newer


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (the ``avx512_bf16`` or ``amx_bf16`` flag in /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume no
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def auto_cuda_precision(capability: tuple[int, int]) -> str:
    """What ``precision="auto"`` computes in on a CUDA card of this compute capability."""
    if capability >= BF16_CAPABILITY:
        return "bf16"
    if capability >= FP16_CAPABILITY:
        return "fp16"
    return "fp32"


def choose_precision(asked: str, device_type: str, capability: tuple[int, int] | None = None, card: str = "",
                     cpu_bf16: bool = False) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``asked`` (one of ``PRECISIONS``) on a device, without touching it.

    ``capability`` and ``card`` describe a CUDA card; ``cpu_bf16`` says whether a CPU computes bf16
    natively. Raises :class:`ConfigError` where ``asked`` would be emulated (see the module's docstring).
    """
    if asked not in PRECISIONS:
        raise ConfigError(f"precision: unknown value {asked!r}; choose one of {', '.join(PRECISIONS)}")
    if device_type == "cuda":
        assert capability is not None, "a CUDA device needs its compute capability"
        if asked == "auto":
            return auto_cuda_precision(capability)
        if asked == "bf16" and capability < BF16_CAPABILITY:
            raise ConfigError(f"precision: bf16 needs a CUDA card of compute capability 8.0 or newer, and {card} is "
                              f"{capability[0]}.{capability[1]} (torch would emulate bf16 there): use fp16 (float16 "
                              "autocast + gradient scaler) or auto")
        return asked
    if asked == "auto":
        return "fp32"
    if asked == "bf16" and not cpu_bf16:
        raise ConfigError("precision: bf16 needs a CUDA card of compute capability 8.0+ or a CPU with AVX512-BF16/AMX "
                          "instructions; this CPU would emulate it (hundreds of times slower than float32): use fp32 "
                          "or auto")
    return asked


def describe_device(device: torch.device) -> str:
    """``cuda (NVIDIA T4, compute capability 7.5)`` or ``cpu (x86_64, 2 threads)``."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"cuda ({torch.cuda.get_device_name(device)}, compute capability {major}.{minor})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class Runtime:
    """Where and how tensors are computed."""

    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype, None = plain float32
    channels_last: bool

    @classmethod
    def create(cls, device: str = "auto", precision: str = "auto") -> Runtime:
        """``device``: auto/cpu/cuda[:N]; ``precision``: one of ``PRECISIONS`` (see the module's docstring)."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError("device: 'cuda' was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
            precision = choose_precision(precision, "cuda", torch.cuda.get_device_capability(dev),
                                         torch.cuda.get_device_name(dev))
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = precision == "bf16"
            torch.backends.cudnn.allow_tf32 = precision == "bf16"
        else:
            precision = choose_precision(precision, dev.type, cpu_bf16=precision == "bf16" and cpu_has_native_bf16())
        amp_dtype = AMP_DTYPES[precision]
        return cls(dev, amp_dtype, channels_last=amp_dtype is not None)

    @property
    def precision(self) -> str:
        """``fp32``, ``bf16`` or ``fp16``."""
        return next(name for name, dtype in AMP_DTYPES.items() if dtype is self.amp_dtype)

    def describe(self) -> str:
        """The device and the precision, as the first line of a run names them."""
        return f"{describe_device(self.device)}, {PRECISION_TEXT[self.precision]}"

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A fresh loss scaler for float16 (whose small gradients would underflow unscaled); None otherwise."""
        return torch.amp.GradScaler(self.device.type) if self.amp_dtype is torch.float16 else None

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
