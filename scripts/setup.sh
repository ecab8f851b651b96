#!/usr/bin/env bash
# Sets up everything classroom-mode needs on Debian: system packages, a virtual environment in
# .venv, the CPU build of PyTorch, and the package with its test and optional extras.
# Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

packages=$(grep -v '^#' scripts/apt-packages.txt | xargs)
missing=""
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "==> installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "==> installing PyTorch (CPU build) and classroom-mode into .venv"
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: the package asks only for torch>=2.5, which this CPU build satisfies,
# so pip does not pull several GB of CUDA packages.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,discord,camera]"
echo "==> ready: .venv/bin/classroom-mode --help"
