#!/usr/bin/env bash
# First GPU call (carry .gpu/part1.tar and .gpu/COMMIT): unpack part 1 of the data into $DEVICE_DIR/hw_data (a
# fresh folder), then the benchmark: naive fp32 against bf16 + channels_last + fused AdamW + torch.compile, each
# model at hw_lib.bench's default size and batch. Returns gpu.txt, bench.json and bench.log in $OUT.
# The second call must follow within the machine's idle time (30 s), or part 1 is gone.
#   DEVICE_DIR  the device's scratch folder (default /tmp); the logs show the paths under it relative to it
#   BENCH_ARGS  flags for python -m hw_lib.bench (a CPU rehearsal: BENCH_ARGS="--device cpu --no-compile
#               --models fcn8s --size 64 --batch 2 --steps 1 --warmup 1")
set -euo pipefail
: "${OUT:?set OUT to the folder whose files come back}"
[ -f .gpu/part1.tar ] && [ -f .gpu/COMMIT ] || { echo "error: .gpu/part1.tar or .gpu/COMMIT: missing (carry both)" >&2; exit 2; }
export PYTHONUNBUFFERED=1 HW_GIT_COMMIT=$(cat .gpu/COMMIT)
dev=${DEVICE_DIR:-/tmp} dev=${dev%/}
rm -rf "$dev/hw_data" && mkdir -p "$dev/hw_data" && tar -xf .gpu/part1.tar -C "$dev/hw_data"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1 || true
else
  echo "no nvidia-smi on this machine" > "$OUT/gpu.txt"
fi
cat "$OUT/gpu.txt"
read -r -a bench_args <<< "${BENCH_ARGS:-}"
python3 -m hw_lib.bench --compile --json "$OUT/bench.json" "${bench_args[@]}" 2>&1 | sed -u "s|$dev/||g" | tee "$OUT/bench.log"
