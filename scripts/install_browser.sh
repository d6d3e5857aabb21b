#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the workbench's browser tests, if missing.
# Needs apt-get, as root or with password-less sudo. Safe to re-run.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install_browser.sh: no apt-get here; install Chromium and ChromeDriver yourself for the browser tests" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the package lists first: it is quicker, and they are often fresh enough.
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
  { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium chromium-driver >/dev/null; }
chromium --version
