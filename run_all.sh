#!/usr/bin/env bash
# The main job: trains FCN32s, FCN16s and FCN8s and renders the report into report/
# (executed notebooks, report.html, report.pdf, results.json). Sets up .venv if needed.
#
#   ./run_all.sh                                     CPU demo on synthetic data it generates
#   DATA_DIR=../shared/dlcv_p2_data ./run_all.sh     the demo recipe on the real data
#   PRESET=course DATA_DIR=... ./run_all.sh          the course settings (512 px, 20 epochs): a GPU
#   REPORT_DIR=elsewhere ./run_all.sh                write the report elsewhere
#
# Further arguments go to `python -m hw_lib.pipeline` (--force, --set epochs=5, --no-pdf, --help).
# Finished runs (runs/<preset>-<real|synthetic>/<model>) are reused, never deleted.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
args=(--preset "${PRESET:-demo}" --report-dir "${REPORT_DIR:-report}")
if [ -n "${DATA_DIR:-}" ]; then
  args+=(--data-dir "$DATA_DIR")
fi
exec .venv/bin/python -m hw_lib.pipeline "${args[@]}" "$@"
