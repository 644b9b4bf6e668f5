#!/usr/bin/env bash
# Opens the project in JupyterLab from its environment (sets up .venv if needed): open
# notebooks/report.ipynb or notebooks/train.ipynb and Run All. Arguments go to `jupyter lab`
# (e.g. --no-browser --port 8890 on a remote machine).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
if [ -d .git ] && ! git config filter.nbstripout.clean >/dev/null; then  # see .gitattributes and NBSTRIPOUT in tests
  git config filter.nbstripout.clean "'$PWD/.venv/bin/python' -m nbstripout --extra-keys metadata.language_info"
  git config filter.nbstripout.smudge cat
  git config diff.ipynb.textconv "'$PWD/.venv/bin/python' -m nbstripout -t"
fi
root=()
if [ "$(id -u)" = 0 ]; then
  root=(--allow-root)  # JupyterLab refuses root without it
fi
exec .venv/bin/jupyter lab --ServerApp.root_dir=. "${root[@]}" "$@" notebooks/report.ipynb
