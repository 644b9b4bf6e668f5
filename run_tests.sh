#!/usr/bin/env bash
# The test command: sets up .venv (requirements.txt + requirements-test.txt) if needed, then runs the
# test suite; pytest prints the 15 slowest tests at the end.
# Tests that need ../shared (real data, scorer fixture, seed) skip where it is absent.
# ./run_tests.sh --fast leaves out the tests marked slow (notebooks, JupyterLab, several training runs): the
# development run. Extra arguments go to pytest, e.g. ./run_tests.sh -k metrics, or -m "not artifacts".
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh --test
if [ "${1:-}" = "--fast" ]; then
  shift
  set -- -m "not slow" "$@"
fi
exec .venv/bin/python -m pytest "$@"
