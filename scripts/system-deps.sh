#!/usr/bin/env bash
# Installs the system programs the end-to-end tests run against: Prometheus
# (with promtool) and Chromium (headless screenshots of `otel-drift report`).
# Idempotent: apt-get runs only when one of the binaries is missing.
set -euo pipefail
packages=()
command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
if [ "${#packages[@]}" -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "system-deps: installing ${packages[*]} (apt-get)" >&2
LOG="$(mktemp)"
if ! { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    $(printf '%s\n' "${packages[@]}" | sort -u); } >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    echo "system-deps: apt-get failed; full log in $LOG" >&2
    exit 1
fi
rm -f "$LOG"
# Nothing is started: the Debian package's service needs a service manager, and
# the tests start their own Prometheus on 127.0.0.1 only.
