#!/usr/bin/env bash
# Arize Phoenix, for the end-to-end test that reads drift spans back from it
# (tests/backends/test_phoenix.py), in its own venv: Phoenix needs a newer
# OpenTelemetry SDK than otel-drift pins, and weighs ~850 MB. Reused while its
# stamp file says the pinned version is installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-phoenix"
VERSION="20.26.1"
STAMP="$VENV/.installed-arize-phoenix-$VERSION"
if [ -f "$STAMP" ]; then
    exit 0
fi
echo "phoenix-venv: installing arize-phoenix==$VERSION into $VENV (first run only)" >&2
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
LOG="$VENV/pip-install.log"
if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
    "$VENV/bin/python" -m pip install "arize-phoenix==$VERSION"; } >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    echo "phoenix-venv: pip install failed; full log in $LOG" >&2
    exit 1
fi
touch "$STAMP"
