#!/usr/bin/env bash
# The CPU training step with glibc's malloc defaults against hw_lib's heap setting (hw_lib/cpu_heap.py).
# The setting is process-wide, so each path runs in its own process, alternated so drift hits both alike.
#   scripts/bench_cpu_heap.sh [ROUNDS (default 2)] [hw_lib.bench arguments, default --models fcn8s --size 64 --batch 16]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--models fcn8s --size 64 --batch 16)
bench() { .venv/bin/python -m hw_lib.bench --device cpu --steps 20 "${args[@]}" | grep fused_adamw; }
for round in $(seq "$rounds"); do
  echo "round $round, glibc defaults: $(HW_GLIBC_MALLOC_DEFAULTS=1 bench)"
  echo "round $round, heap retained:  $(bench)"
done
