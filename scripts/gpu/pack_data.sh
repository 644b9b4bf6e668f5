#!/usr/bin/env bash
# Packs the real data for the GPU machine, whose calls carry at most 64 MiB each:
#   .gpu/part1.tar  validation/ + train/0000-0999 (+ checksums)    ~57 MB
#   .gpu/part2.tar  train/1000-1999                                ~46 MB
#   .gpu/COMMIT     the commit the runs will record
# .gpu/ is git-ignored. Usage: scripts/gpu/pack_data.sh [DATA_DIR (default ../shared/dlcv_p2_data)]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/dlcv_p2_data}
[ -d "$data/train" ] && [ -d "$data/validation" ] || { echo "error: $data must hold train/ and validation/" >&2; exit 2; }
mkdir -p .gpu
git rev-parse HEAD > .gpu/COMMIT
first=$(cd "$data" && ls train | awk -F_ '$1 < 1000' | sed 's|^|train/|')
second=$(cd "$data" && ls train | awk -F_ '$1 >= 1000' | sed 's|^|train/|')
tar -cf .gpu/part1.tar -C "$data" validation $(ls "$data"/*.sha256 | xargs -n1 basename) $first
tar -cf .gpu/part2.tar -C "$data" $second
ls -l .gpu
