#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment: .venv, or $EVGEN_VENV.
# Installs the CPU build of PyTorch first (a plain `pip install torch` pulls a CUDA
# build of several GB), then evgen with its test and data-making extras.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${EVGEN_VENV:-.venv}
torch_spec=${EVGEN_TORCH:-torch==2.13.0}
stamp="$venv/.evgen-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$torch_spec"
"$venv/bin/python" -m pip install --quiet -e ".[test]"
echo "$want" > "$stamp"
echo "evgen installed in $venv"
