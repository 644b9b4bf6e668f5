#!/usr/bin/env bash
# Second GPU call (carry .gpu/part2.tar and .gpu/COMMIT): unpack part 2 beside part 1, verify every file against
# the dataset's checksums, train FCN32s, FCN16s and FCN8s with the course-scratch preset (no ImageNet weights can be
# had there; torch.compile on) into $DEVICE_DIR/hw_runs (a finished run there is reused, an unfinished one resumed:
# a call cut short can be repeated), and return in $OUT the run directories without checkpoints (runs.tar.gz),
# run_set.txt (RUN_SET, which render_real_report.sh passes on to the pipeline) and train.log.
#   DEVICE_DIR  the device's scratch folder (default /tmp); the log shows the paths under it relative to it
#   RUN_SET     run parameters over the preset's, as the pipeline's --set takes them: key=value, JSON values, no
#               spaces inside one (a CPU rehearsal: RUN_SET="device=cpu compile=false epochs=1 train_limit=2
#               val_limit=2 image_size=64 snapshot_epochs=[1] batch_size=2")
set -euo pipefail
: "${OUT:?set OUT to the folder whose files come back}"
[ -f .gpu/part2.tar ] && [ -f .gpu/COMMIT ] || { echo "error: .gpu/part2.tar or .gpu/COMMIT: missing (carry both)" >&2; exit 2; }
export PYTHONUNBUFFERED=1 HW_GIT_COMMIT=$(cat .gpu/COMMIT)
read -r -a run_set <<< "${RUN_SET:-}"
for pair in "${run_set[@]}"; do
  case ${pair%%=*} in model | data_dir | run_dir) echo "error: RUN_SET: $pair: set by this script, not settable" >&2; exit 2 ;; esac
done
dev=${DEVICE_DIR:-/tmp} dev=${dev%/}
data=$dev/hw_data runs=$dev/hw_runs
[ -d "$data/validation" ] || { echo "error: $data/validation: gone (the machine went cold): run device_part1.sh again first" >&2; exit 2; }
tar -xf .gpu/part2.tar -C "$data"
for split in train validation; do
  (cd "$data/$split" && sha256sum --quiet --strict -c "../$split.sha256") || { echo "error: $data/$split: files differ from $split.sha256" >&2; exit 2; }
done
echo "${run_set[*]}" > "$OUT/run_set.txt"
models=(fcn32s fcn16s fcn8s)
for model in "${models[@]}"; do
  python3 -m hw_lib.train --preset course-scratch --model "$model" --data-dir "$data" --run-dir "$runs/$model" \
    --compile --no-progress --set "${run_set[@]}" 2>&1 | sed -u "s|$dev/||g" | tee -a "$OUT/train.log"
done
tar -czf "$OUT/runs.tar.gz" -C "$runs" --exclude='*.pt' "${models[@]}"
