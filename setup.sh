#!/usr/bin/env bash
# One-command setup: a Python 3.11 virtual environment with the harness and its test tools.
# torch is pinned (constraints.txt) to the 2.13.0 CPU build; an unpinned torch pulls GBs of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "nasbench-harness needs Python 3.11"'
"$PYTHON" -m venv .venv
.venv/bin/pip install --quiet -c constraints.txt -e '.[dev]'
echo "ready: source .venv/bin/activate, then run: harness --help"
