#!/usr/bin/env bash
# Installs what tests/test_browser.py needs, only when it is missing (idempotent, quiet):
#   - Debian's Chromium at /usr/bin/chromium (apt-get; Playwright's own browser downloads are never used)
#   - the playwright Python package, into the project's venv (.venv, or $VENV)
# Usage: scripts/install-browser.sh        (run as root, or with sudo available, for apt-get)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="$VENV/bin/python"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
  echo "install-browser: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null
  as_root apt-get install -y -qq chromium >/dev/null
fi

if [ ! -x "$PYTHON" ]; then
  echo "install-browser: no venv at $VENV (set VENV=...)" >&2
  exit 1
fi
if ! "$PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
  echo "install-browser: installing playwright into $VENV" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check playwright
fi
