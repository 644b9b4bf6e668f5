#!/usr/bin/env bash
# The test command: sets up .venv from requirements.txt if needed, then runs the test suite.
# Tests that need ../shared (real data, scorer fixture, seed) skip where it is absent.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k metrics
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
exec .venv/bin/python -m pytest "$@"
