#!/usr/bin/env bash
# Packs a dataset for the GPU machine, whose calls carry at most 64 MiB each, working tree included:
#   .gpu/part1.tar  validation/, the top-level files (checksums, SYNTHETIC.json) and the first training pairs
#   .gpu/part2.tar  the other training pairs: the split by bytes, so the parts are about the same size
#                   (the real data: about 51 MB each)
#   .gpu/COMMIT     the commit the runs will record (+dirty with local changes outside report/)
# .gpu/ is git-ignored. Usage: scripts/gpu/pack_data.sh [DATA_DIR (default ../shared/dlcv_p2_data)]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/dlcv_p2_data}
[ -d "$data/train" ] && [ -d "$data/validation" ] || { echo "error: $data: must hold train/ and validation/" >&2; exit 2; }
for split in train validation; do
  [ -f "$data/$split.sha256" ] || { echo "error: $data/$split.sha256: missing (the device checks every file against it)" >&2; exit 2; }
done
# bytes per training pair (files grouped by the id before the first _), in id order
sizes=$(cd "$data/train" && find . -maxdepth 1 -type f -printf '%f %s\n' | sort |
  awk '{split($1, a, "_"); key = a[1] ""; if (key != id) {if (NR > 1) print id, n; id = key; n = 0} n += $2} END {if (NR) print id, n}')
[ "$(echo "$sizes" | grep -c .)" -ge 2 ] || { echo "error: $data/train: needs at least 2 training pairs to fill two parts" >&2; exit 2; }
top=$(cd "$data" && find . -maxdepth 1 -type f -printf '%f\n' | sort)
fixed=$(cd "$data" && find validation $top -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
# part 1 takes training pairs until it holds half the bytes; part 2 keeps at least one pair
first=$(echo "$sizes" | awk -v fixed="$fixed" '{id[NR] = $1; n[NR] = $2; total += $2}
  END {half = (fixed + total) / 2; size = fixed; for (i = 1; i < NR && size + n[i] <= half; i++) {print id[i]; size += n[i]}}')
mkdir -p .gpu
rm -f .gpu/part1.tar .gpu/part2.tar
commit=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no -- . ':(exclude)report')" ] || commit+=+dirty
echo "$commit" > .gpu/COMMIT
in_part1() { awk 'NR == FNR {keep[$1]; next} {split($0, a, "_"); if ((a[1] in keep) == want) print "train/" $0}' want="$1" <(echo "$first") <(ls "$data/train"); }
tar -cf .gpu/part1.tar -C "$data" validation $top $(in_part1 1)
tar -cf .gpu/part2.tar -C "$data" $(in_part1 0)
tree=$( { (git ls-files -z; git ls-files -z -o --exclude-standard) | xargs -0 -r stat -c %s -- 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
for part in .gpu/part1.tar .gpu/part2.tar; do
  bytes=$(stat -c %s "$part")
  awk -v b="$bytes" -v t="$tree" -v n="$(tar -tf "$part" | grep -c '_sat.jpg$')" -v p="$part" \
    'BEGIN {printf "%s: %.1f MB (%d images); with the working tree %.1f MiB\n", p, b / 1e6, n, (b + t) / 1048576}'

  [ $(( bytes + tree )) -lt $(( 64 * 1048576 )) ] || { echo "error: $part: with the working tree over a call's 64 MiB" >&2; exit 2; }
done
