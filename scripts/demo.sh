#!/usr/bin/env bash
# Install, index the bundled Icecat demo catalog (reused when already built) and serve the API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/search-demo "$@"
