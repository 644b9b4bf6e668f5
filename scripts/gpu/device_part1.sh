#!/usr/bin/env bash
# First GPU call (carry .gpu/part1.tar and .gpu/COMMIT): unpack part 1 of the data to /tmp/hw_data, then the benchmark:
# naive fp32 vs bf16+channels_last+torch.compile, each model at 512 px, batch 16.
# The second call must follow within the machine's idle time (30 s), or part 1 is gone.
# BENCH_ARGS adds flags (a CPU rehearsal: BENCH_ARGS="--device cpu --size 64 --batch 2 --steps 2").
set -euo pipefail
export PYTHONUNBUFFERED=1 HW_GIT_COMMIT=$(cat .gpu/COMMIT)
mkdir -p /tmp/hw_data && tar -xf .gpu/part1.tar -C /tmp/hw_data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt" || true
python3 -m hw_lib.bench --compile --json "$OUT/bench.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
