#!/usr/bin/env bash
# Creates .venv (if needed) and installs otel-drift with the given extras,
# under the pinned OpenTelemetry constraints. Sourced by scripts/demo and scripts/test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OTEL_DRIFT_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
STAMP="$VENV/.otel-drift-installed-$EXTRAS"
# Reinstall when the package metadata or the pins change.
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$ROOT/constraints.txt" -nt "$STAMP" ]; then
    LOG="$VENV/pip-install.log"
    # pip's chatter goes to a log, shown only when the install fails.
    if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
        "$VENV/bin/python" -m pip install -c "$ROOT/constraints.txt" -e "$ROOT${EXTRAS:+[$EXTRAS]}"; } >"$LOG" 2>&1; then
        tail -n 40 "$LOG" >&2
        echo "bootstrap: pip install failed; full log in $LOG" >&2
        exit 1
    fi
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
