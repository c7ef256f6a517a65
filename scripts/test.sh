#!/usr/bin/env bash
# The test suite (see README): set up .venv, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${EVGEN_VENV:-.venv}/bin/python" -m pytest "$@"
