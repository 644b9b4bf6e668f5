"""Does bf16 autocast crash on this CPU? Each case runs in its own process, so a crash is caught.

A case: model, side, batch, threads, train or eval, channels_last or not, a number of steps.
With ``--malloc-check`` a case runs under glibc's malloc checker (``libc_malloc_debug.so`` + ``MALLOC_CHECK_=3``),
which aborts at the first heap corruption instead of letting it surface later as
``free(): invalid next size``. Prints one line per case: ok (with ms/img) or the signal/exit.

    .venv/bin/python scripts/probe_cpu_bf16.py            # the grid used for the README's finding
    .venv/bin/python scripts/probe_cpu_bf16.py --quick    # a few cases
"""
from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MALLOC_DEBUG = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"

CASE = r"""
import sys, time, torch
import torch.nn.functional as F
from hw_lib.models import build_model
from hw_lib.transforms import normalize
model_name, side, batch, threads, mode, layout, steps = sys.argv[1:]
side, batch, threads, steps = int(side), int(batch), int(threads), int(steps)
torch.set_num_threads(threads)
torch.manual_seed(0)
model = build_model(model_name)
fmt = torch.channels_last if layout == "cl" else torch.contiguous_format
model = model.to(memory_format=fmt)
opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
x = normalize(torch.randint(0, 256, (batch, 3, side, side), dtype=torch.uint8)).contiguous(memory_format=fmt)
y = torch.randint(0, 7, (batch, side, side))
model.train(mode == "train")
times = []
for _ in range(steps):
    t = time.perf_counter()
    if mode == "train":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        assert torch.isfinite(loss), "non-finite loss"
    else:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(x).argmax(1)
    times.append(time.perf_counter() - t)
best = sorted(times[1:] or times)[len(times[1:] or times) // 2]
print(f"{1000 * best / batch:.1f}")
"""


def run_case(args: tuple, malloc_check: bool, timeout: int) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if malloc_check and Path(MALLOC_DEBUG).exists():
        env.update(LD_PRELOAD=MALLOC_DEBUG, MALLOC_CHECK_="3")
    try:
        result = subprocess.run([sys.executable, "-c", CASE, *map(str, args)], env=env, capture_output=True,
                                text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    if result.returncode == 0:
        return f"ok {result.stdout.strip()} ms/img"
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        return f"CRASH {name}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ''}"
    return f"FAIL exit {result.returncode}: {result.stderr.strip().splitlines()[-1]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--malloc-check", action="store_true",
                        help="run under glibc's malloc checker (catches heap corruption at once; ~50x slower)")
    args = parser.parse_args()
    if args.quick:
        grid = [("fcn8s", 128, 8, 2, "train", "cl"), ("fcn32s", 64, 8, 2, "train", "cl"),
                ("fcn8s", 512, 4, 2, "eval", "cl")]
    else:
        grid = [(m, s, b, 2, mode, "cl") for m, s, b, mode in itertools.product(
            ("fcn32s", "fcn16s", "fcn8s"), (64, 96, 128), (8, 32), ("train", "eval"))]
        grid += [(m, s, 8, 1, "train", layout) for m, s, layout in itertools.product(
            ("fcn32s", "fcn8s"), (64, 128), ("cl", "nchw"))]
        grid += [(m, 512, 2, 2, mode, "cl") for m in ("fcn32s", "fcn8s") for mode in ("train", "eval")]
    import torch

    print(f"torch {torch.__version__}, malloc check {'on' if args.malloc_check else 'off'}, {len(grid)} cases",
          flush=True)
    bad = 0
    for case in grid:
        outcome = run_case((*case, args.steps), args.malloc_check, timeout=900)
        bad += not outcome.startswith("ok")
        print(f"{' '.join(map(str, case)):32s} {outcome}", flush=True)
    print(f"{len(grid) - bad} ok, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
