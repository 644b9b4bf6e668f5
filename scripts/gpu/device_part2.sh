#!/usr/bin/env bash
# Second GPU call (carry .gpu/part2.tar and .gpu/COMMIT): unpack part 2, verify every file against the
# dataset's checksums, train FCN32s, FCN16s and FCN8s with the course-scratch preset (no ImageNet weights
# can be had there; torch.compile on), and return the run directories without checkpoints as
# $OUT/runs.tar.gz, with the training log.
# MODELS and TRAIN_ARGS adjust it (a CPU rehearsal: MODELS=fcn8s TRAIN_ARGS="--device cpu --epochs 1
# --train-limit 4 --val-limit 2 --image-size 64 --snapshot-epochs 1 --batch-size 2").
set -euo pipefail
export PYTHONUNBUFFERED=1 HW_GIT_COMMIT=$(cat .gpu/COMMIT)
[ -d /tmp/hw_data/validation ] || { echo "error: /tmp/hw_data is gone (the machine went cold): run device_part1.sh again first" >&2; exit 2; }
tar -xf .gpu/part2.tar -C /tmp/hw_data
(cd /tmp/hw_data/train && sha256sum --quiet -c ../train.sha256) && (cd /tmp/hw_data/validation && sha256sum --quiet -c ../validation.sha256)
for model in ${MODELS:-fcn32s fcn16s fcn8s}; do
  python3 -m hw_lib.train --preset course-scratch --model "$model" --data-dir /tmp/hw_data --run-dir "/tmp/hw_runs/$model" \
    --compile --no-progress ${TRAIN_ARGS:-} 2>&1 | tee -a "$OUT/train.log"
done
tar -czf "$OUT/runs.tar.gz" -C /tmp/hw_runs --exclude='*.pt' .
