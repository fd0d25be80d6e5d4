#!/usr/bin/env bash
# Start a local Prefect server (SQLite by default), create the process work pool, deploy every
# deployment in prefect.yaml, and run a worker in the foreground (Ctrl-C stops the worker;
# `prefect server stop` stops the server).
#
#   scripts/server.sh            # server + pool + deployments + worker
#   scripts/server.sh --no-worker
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${SKILLSETS_PREFECT_PORT:-4200}"
export PREFECT_API_URL="${PREFECT_API_URL:-http://127.0.0.1:${PORT}/api}"
BIN="${SKILLSETS_BIN:-$PWD/.venv/bin}"
POOL=skillsets

if ! curl -fsS "$PREFECT_API_URL/health" >/dev/null 2>&1; then
  "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" --background
  for _ in $(seq 60); do
    curl -fsS "$PREFECT_API_URL/health" >/dev/null 2>&1 && break
    sleep 1
  done
fi
curl -fsS "$PREFECT_API_URL/health" >/dev/null || { echo "Prefect server did not answer at $PREFECT_API_URL" >&2; exit 1; }

"$BIN/prefect" work-pool create "$POOL" --type process --overwrite >/dev/null
"$BIN/prefect" deploy --all --no-prompt
echo "Prefect UI: ${PREFECT_API_URL%/api}"
echo "Run:        PREFECT_API_URL=$PREFECT_API_URL $BIN/prefect deployment run 'nightly/nightly' --watch"

if [ "${1:-}" != "--no-worker" ]; then
  exec "$BIN/prefect" worker start --pool "$POOL"
fi
