#!/usr/bin/env bash
# The main job: trains FCN32s, FCN16s and FCN8s and renders the report into report/<preset>-<source>/
# (executed notebooks, report.html, report.pdf, results.json). Sets up .venv if needed.
#
#   ./run_all.sh                                     demo: synthetic data it generates, CPU minutes
#   DATA_DIR=../shared/dlcv_p2_data ./run_all.sh     the real data: preset laptop on a CPU (under an
#                                                    hour), course (512 px) where CUDA is present
#   PRESET=course DATA_DIR=... ./run_all.sh          force a preset (demo, laptop, course)
#   REPORT_DIR=elsewhere ./run_all.sh                write the report elsewhere
#
# Further arguments go to `python -m hw_lib.pipeline` (--force, --set epochs=5, --no-pdf, --help).
# Finished runs (runs/<preset>-<source>/<model>) are reused, never deleted; a killed run resumes.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
args=(--preset "${PRESET:-auto}")
if [ -n "${REPORT_DIR:-}" ]; then
  args+=(--report-dir "$REPORT_DIR")
fi
if [ -n "${DATA_DIR:-}" ]; then
  args+=(--data-dir "$DATA_DIR")
fi
exec .venv/bin/python -m hw_lib.pipeline "${args[@]}" "$@"
