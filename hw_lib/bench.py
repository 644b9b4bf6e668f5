"""``python -m hw_lib.bench``: training and evaluation throughput, naive float32 vs the fast path.

Both paths run in one process on the same device, so their ratio is meaningful even where
absolute speed varies. Each measures the training step exactly as ``fit`` runs it (batches
gathered from a uint8 split on the device, augmentation, normalisation, forward, backward,
AdamW step) on random data, after warm-up steps (cudnn autotuning, compilation). TFLOP/s counts
the model's forward + backward FLOPs (``torch.utils.flop_counter``) at the measured rate.

- naive: float32, contiguous tensors, torch's default (multi-tensor) AdamW;
- fast: on CUDA what ``fit`` picks there by default (``precision="auto"``: bf16 autocast from compute
  capability 8.0, fp16 autocast + gradient scaler on 7.x, float32 below; channels_last with
  autocast); on a CPU bf16 autocast + channels_last where the CPU has native bf16 (``fit`` takes it
  when asked, ``precision="bf16"``; native is not always faster), float32 elsewhere; the fused AdamW
  kernel; ``--compile`` adds torch.compile.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .cli import run_cli
from .data import Split
from .engine import Batches, make_optimization, predict_labels, train_one_epoch
from .models import MODELS, build_model
from .runtime import PRECISION_TEXT, Runtime, cpu_has_native_bf16


@dataclass(frozen=True)
class Measurement:
    model: str
    path: str
    train_images_per_second: float
    train_tflops: float
    eval_images_per_second: float


def random_split(n: int, size: int, device: torch.device, seed: int = 0) -> Split:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 7, (n, size, size), generator=gen, dtype=torch.uint8)
    return Split(Path("random"), [f"{i:04d}" for i in range(n)], images, labels).to(device)


def training_flops_per_image(model_name: str, size: int, device: torch.device) -> float:
    """Forward + backward FLOPs of one image (float32 shapes; the count does not depend on dtype)."""
    model = build_model(model_name).to(device)
    x = torch.zeros(1, 3, size, size, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return float(counter.get_total_flops())


def measure(model_name: str, runtime: Runtime, size: int, batch: int, steps: int, warmup: int,
            compile_model: bool, fused: bool, flops_per_image: float) -> Measurement:
    torch.manual_seed(0)
    model = runtime.prepare(build_model(model_name))
    step_model = torch.compile(model) if compile_model else model
    optim = make_optimization(model, "adamw", 1e-5, 0.0, "constant", warmup + steps, fused=fused,
                              scaler=runtime.grad_scaler())
    gen = torch.Generator().manual_seed(0)
    train_one_epoch(step_model, random_split(batch * warmup, size, runtime.device, 1), Batches(batch), optim, runtime,
                    gen, epoch=0)
    split = random_split(batch * steps, size, runtime.device, 2)
    stats = train_one_epoch(step_model, split, Batches(batch), optim, runtime, gen, epoch=1, sync_every=10**9)
    train_rate = stats.images / stats.seconds

    predict_labels(step_model, split.images[: batch * warmup], runtime, batch)
    runtime.synchronize()
    start = time.perf_counter()
    predict_labels(step_model, split.images, runtime, batch)
    runtime.synchronize()
    eval_rate = len(split) / (time.perf_counter() - start)
    path = "+".join([runtime.precision] + ["channels_last"] * runtime.channels_last + ["fused_adamw"] * fused
                    + ["compile"] * compile_model)
    return Measurement(model_name, path, train_rate, train_rate * flops_per_image / 1e12, eval_rate)


def run_bench(models: list[str], device: str = "auto", size: int = 512, batch: int = 16, steps: int = 20,
              warmup: int = 3, compile_model: bool = False) -> list[Measurement]:
    """The naive and the fast path for each model, measured one after the other."""
    naive = Runtime.create(device, "fp32")
    if naive.device.type == "cuda":
        fast_precision = Runtime.create(device, "auto").precision
    else:
        fast_precision = "bf16" if cpu_has_native_bf16() else "fp32"
    print(f"fast path on {naive.device}: {PRECISION_TEXT[fast_precision]}, fused AdamW", flush=True)
    results = []
    for name in models:
        flops = training_flops_per_image(name, size, naive.device)
        for precision, fused, compile_this in (("fp32", False, False), (fast_precision, True, compile_model)):
            runtime = Runtime.create(device, precision)  # also sets this path's global TF32/cudnn flags
            result = measure(name, runtime, size, batch, steps, warmup, compile_this, fused, flops)
            results.append(result)
            print(f"{result.model:7s} {result.path:40s} train {result.train_images_per_second:8.1f} img/s "
                  f"{result.train_tflops:7.3f} TFLOP/s   eval {result.eval_images_per_second:8.1f} img/s", flush=True)
            gc.collect()
            if runtime.device.type == "cuda":
                torch.cuda.empty_cache()
        naive_result, fast_result = results[-2:]
        print(f"{name:7s} fast / naive: train "
              f"x{fast_result.train_images_per_second / naive_result.train_images_per_second:.2f}, "
              f"eval x{fast_result.eval_images_per_second / naive_result.eval_images_per_second:.2f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw_lib.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per path")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False,
                        help="torch.compile the fast path (CUDA)")
    parser.add_argument("--json", default=None, help="also write the measurements here")
    args = parser.parse_args(argv)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"bench on {device}, torch {torch.__version__}: {args.size} px, batch {args.batch}, {args.steps} steps",
          flush=True)
    results = run_bench(args.models, args.device, args.size, args.batch, args.steps, args.warmup, args.compile)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "torch": torch.__version__, "size": args.size,
                                               "batch": args.batch, "results": [asdict(r) for r in results]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
