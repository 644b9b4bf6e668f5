#!/usr/bin/env bash
# Here, after the GPU calls: unpack the returned run directories into runs/course-scratch-real and render
# report/course-scratch-real from them (the finished runs are reused, nothing is retrained).
# Usage: scripts/gpu/render_real_report.sh FETCHED_DIR   (the folder holding runs.tar.gz, bench.json...)
set -euo pipefail
cd "$(dirname "$0")/../.."
fetched=${1:?usage: $0 FETCHED_DIR}
mkdir -p runs/course-scratch-real report/course-scratch-real
tar -xzf "$fetched/runs.tar.gz" -C runs/course-scratch-real
for f in bench.json bench.log train.log gpu.txt; do
  if [ -f "$fetched/$f" ]; then cp "$fetched/$f" report/course-real/; fi
done
PRESET=course-scratch DATA_DIR=${DATA_DIR:-../shared/dlcv_p2_data} ./run_all.sh
