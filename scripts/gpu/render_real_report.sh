#!/usr/bin/env bash
# Here, after the GPU calls: unpack the returned run directories into report/real/runs and render
# the real-data report from them (the finished runs are reused, nothing is retrained).
# Usage: scripts/gpu/render_real_report.sh FETCHED_DIR   (the folder holding runs.tar.gz, bench.json...)
set -euo pipefail
cd "$(dirname "$0")/../.."
fetched=${1:?usage: $0 FETCHED_DIR}
mkdir -p report/real/runs
tar -xzf "$fetched/runs.tar.gz" -C report/real/runs
for f in bench.json bench.log train.log gpu.txt; do
  if [ -f "$fetched/$f" ]; then cp "$fetched/$f" report/real/; fi
done
PRESET=course DATA_DIR=${DATA_DIR:-../shared/dlcv_p2_data} REPORT_DIR=report/real ./run_all.sh --runs-dir report/real/runs
