#!/usr/bin/env bash
# Set up PrefStudio on a fresh machine: a virtual environment in .venv with everything the
# project needs. `--dev` adds the test tools, DeepSpeed (requirements-distributed.txt, which the
# config tests check its presets with) and Debian's headless Chromium for browser tests.
#   bash scripts/install.sh          # run the product
#   bash scripts/install.sh --dev    # run the tests too
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check"
# torch first and pinned: this finds the CPU wheel instead of the CUDA builds.
$PIP install -q torch==2.13.0
$PIP install -q -r requirements.txt
if [ "${1:-}" = "--dev" ]; then
  $PIP install -q -r requirements-dev.txt
  # DeepSpeed builds from source; without CUDA its compiled ops are left out.
  DS_BUILD_OPS=0 $PIP install -q -r requirements-distributed.txt
  # Debian's Chromium for the browser tests (never `playwright install`), and a CJK font so
  # the 中文 screenshots are readable.
  if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wenquanyi; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -q chromium fonts-wqy-zenhei >/dev/null 2>&1 || {
      $SUDO apt-get update -q >/dev/null &&
        $SUDO apt-get install -y -q chromium fonts-wqy-zenhei >/dev/null; }
  fi
fi
echo "PrefStudio installed in .venv"
