#!/usr/bin/env bash
# One-command setup: a Python 3.11 virtual environment with the harness and its test tools.
# torch is pinned (constraints.txt) to the 2.13.0 CPU build; an unpinned torch pulls GBs of CUDA wheels.
# pip's own output (each package as it is collected, downloaded and installed, with a download bar on a
# terminal) is the progress display: the install takes minutes, longer on a busy machine.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "nasbench-harness needs Python 3.11"'
echo "[1/2] creating .venv with $("$PYTHON" --version)"
"$PYTHON" -m venv .venv
echo "[2/2] installing the harness and its test tools into .venv (the torch CPU wheel and about 95 packages; minutes)"
.venv/bin/pip install -c constraints.txt -e '.[dev]'
echo "ready: source .venv/bin/activate, then run: harness --help"
