#!/usr/bin/env bash
# Creates or updates the project's virtual environment (.venv, or $VENV) from requirements.txt, with
# hw_lib installed in editable mode (any kernel of the environment imports it, wherever it starts).
#   scripts/setup_env.sh          what ./run_all.sh and ./run_lab.sh need
#   scripts/setup_env.sh --test   the same plus requirements-test.txt (./run_tests.sh)
# It does nothing when the environment already matches those files.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
python=${PYTHON:-python3}
files=("$root/requirements.txt")
if [ "${1:-}" = "--test" ]; then
  files+=("$root/requirements-test.txt")
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "error: $python is missing or older than Python 3.10; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
stamp() { sha256sum "$1" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1; }
up_to_date=yes
for file in "${files[@]}"; do
  [ "$(cat "$venv/.$(basename "$file").sha256" 2>/dev/null)" = "$(stamp "$file")" ] || up_to_date=no
done
if [ -x "$venv/bin/python" ] && [ $up_to_date = yes ]; then
  exit 0
fi
echo "setting up $venv from ${files[*]##*/} (the first time takes a few minutes: torch is large)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
for file in "${files[@]}"; do
  "${pip[@]}" -r "$file"
done
"${pip[@]}" --no-deps --no-build-isolation -e "$root"
for file in "${files[@]}"; do
  stamp "$file" > "$venv/.$(basename "$file").sha256"
done
