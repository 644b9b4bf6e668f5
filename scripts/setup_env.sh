#!/usr/bin/env bash
# Creates or updates the project's virtual environment (.venv, or $VENV) from requirements.txt.
# run_all.sh and run_tests.sh call it; it does nothing when the environment matches requirements.txt.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "error: $python is missing or older than Python 3.10; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
want=$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "setting up $venv from requirements.txt (the first time takes a few minutes: torch is large)"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements.txt"
echo "$want" > "$venv/.requirements.sha256"
