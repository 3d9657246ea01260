#!/usr/bin/env bash
# A plain CI step: after deploying a canary and letting it serve traffic,
# fail the pipeline when otel-drift saw drift in it.
#
#   PROMETHEUS_URL=http://prometheus:9090 SERVICE=checkout VERSION=2.0.0 ./ci-gate.sh
#
# Exit codes of `otel-drift gate`: 0 no drift, 1 drift (fails the job),
# 2 usage error, Prometheus unreachable, or no drift data for the service.
set -euo pipefail
otel-drift gate \
    --prometheus "${PROMETHEUS_URL:?}" \
    --service "${SERVICE:?}" \
    --version "${VERSION:?}" \
    --since "${SINCE:-15m}" \
    --fail-on "${FAIL_ON:-critical}"
