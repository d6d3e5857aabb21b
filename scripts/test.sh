#!/usr/bin/env bash
# Install (if needed) and run the whole test suite. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The workbench's browser tests drive Debian's Chromium (skipped with a reason where it cannot be
# installed, outside CI; under CI its absence fails them).
bash scripts/install_browser.sh || echo "test.sh: no Chromium; the browser tests will be skipped" >&2
exec .venv/bin/python -m pytest "$@"
