#!/usr/bin/env bash
# Here, after the GPU calls: unpack the returned runs into runs/course-scratch-<source>/ and render
# report/course-scratch-<source>/ from them with the parameters they were trained with (run_set.txt): the finished
# runs are reused, nothing is trained (without CUDA the pipeline refuses to train a course preset, in one line).
# <source> is what hw_lib.data.data_source says of DATA_DIR (default ../shared/dlcv_p2_data): the real data gives
# report/course-scratch-real/, a rehearsal on hw_lib.synth data report/course-scratch-synthetic/.
# Usage: scripts/gpu/render_real_report.sh FETCHED_DIR... [PIPELINE_FLAGS, e.g. --no-pdf]
#   FETCHED_DIR: the folders the device calls returned (runs.tar.gz, run_set.txt, train.log; gpu.txt, bench.*)
# A run already in runs/course-scratch-<source>/ that differs from the returned one is kept as <model>.archived-<time>.
set -euo pipefail
cd "$(dirname "$0")/../.."
dirs=() flags=()
for arg in "$@"; do
  case $arg in -*) flags+=("$arg") ;; *) dirs+=("$arg") ;; esac
done
[ ${#dirs[@]} -gt 0 ] || { echo "usage: $0 FETCHED_DIR... [PIPELINE_FLAGS]" >&2; exit 2; }
fetched() { for dir in "${dirs[@]}"; do if [ -f "$dir/$1" ]; then echo "$dir/$1"; return; fi; done; }
runs_tar=$(fetched runs.tar.gz) run_set=$(fetched run_set.txt)
[ -n "$runs_tar" ] && [ -n "$run_set" ] || { echo "error: ${dirs[*]}: no runs.tar.gz and run_set.txt (what device_part2.sh returns)" >&2; exit 2; }
data=${DATA_DIR:-../shared/dlcv_p2_data}
[ -d "$data/train" ] && [ -d "$data/validation" ] || { echo "error: $data: must hold train/ and validation/ (set DATA_DIR)" >&2; exit 2; }
scripts/setup_env.sh
name=course-scratch-$(.venv/bin/python -c 'import sys; from hw_lib.data import data_source; print(data_source(sys.argv[1]))' "$data")
incoming=runs/.incoming-$name
rm -rf "$incoming" && mkdir -p "$incoming" "runs/$name" "report/$name"
tar -xzf "$runs_tar" -C "$incoming"
for model in fcn32s fcn16s fcn8s; do
  [ -f "$incoming/$model/config.json" ] || { echo "error: $runs_tar: holds no $model run" >&2; exit 2; }
  target=runs/$name/$model
  if [ -e "$target" ] && diff -rq "$incoming/$model" "$target" > /dev/null; then
    rm -rf "${incoming:?}/$model"
    continue
  fi
  if [ -e "$target" ]; then
    mv "$target" "$target.archived-$(date +%Y%m%d-%H%M%S)"
  fi
  mv "$incoming/$model" "$target"
done
rm -rf "$incoming"
for dir in "${dirs[@]}"; do
  for f in gpu.txt bench.json bench.log train.log; do
    if [ -f "$dir/$f" ]; then cp "$dir/$f" "report/$name/"; fi
  done
done
read -r -a run_set_args < "$run_set" || true
echo "run parameters from $run_set: ${run_set_args[*]:-none}"
PRESET=course-scratch DATA_DIR=$data ./run_all.sh --runs-dir "runs/$name" --report-dir "report/$name" "${flags[@]}" \
  --set "${run_set_args[@]}"
