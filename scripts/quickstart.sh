#!/usr/bin/env bash
# The main job on the shipped sample (see README): set up .venv, then `evgen demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${EVGEN_VENV:-.venv}/bin/evgen" demo -o "${1:-demo-output}"
