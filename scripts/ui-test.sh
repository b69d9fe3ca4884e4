#!/usr/bin/env bash
# The dashboard end to end: checks that the committed crates/ui/dist is what crates/ui/web
# builds, starts the engine embedded (a fresh SQLite file, the in-memory queue, free ports),
# mints an admin and a viewer token, and runs crates/ui/web/e2e (node's test runner driving
# Debian's headless Chromium through playwright-core, both installed on first use). Stops the
# engine whatever happens. The instance page's screenshot is kept in
# $CARGO_TARGET_DIR/ui-artifacts/instance.png.
#
# Environment: CARGO_TARGET_DIR (default: the workspace's target directory, as cargo resolves it),
# UI_TEST_KEEP (keep the work directory with the engine log).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
CARGO_TARGET_DIR=$(CARGO="$CARGO" "$ROOT/scripts/target-dir.sh")
export CARGO_TARGET_DIR
WEB=$ROOT/crates/ui/web
ARTIFACTS=$CARGO_TARGET_DIR/ui-artifacts

say() { echo "ui-test: $*" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

command -v node >/dev/null || { say "node (20 or later) is needed: apt-get install nodejs npm"; exit 1; }
"$ROOT/scripts/ensure-browser.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ui-test.XXXXXX")
ENGINE_PID=
cleanup() {
  local status=$?
  if [[ -n "$ENGINE_PID" ]] && kill -0 "$ENGINE_PID" 2>/dev/null; then
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$ENGINE_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 || -n "${UI_TEST_KEEP:-}" ]]; then
    say "engine log kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building the dashboard from its sources and comparing it with crates/ui/dist"
"$ROOT/scripts/build-ui.sh" --outDir "$WORK/dist" --emptyOutDir
if ! diff -r "$WORK/dist" "$ROOT/crates/ui/dist" >"$WORK/dist.diff"; then
  say "crates/ui/dist is not what crates/ui/web builds: run scripts/build-ui.sh and commit dist/"
  head -n 20 "$WORK/dist.diff" >&2
  exit 1
fi

say "building the engine"
(cd "$ROOT" && "$CARGO" build --quiet --bin workflow-engine)
BIN=$CARGO_TARGET_DIR/debug/workflow-engine

PORT=$(free_port)
GRPC_PORT=$(free_port)
while [[ "$GRPC_PORT" == "$PORT" ]]; do GRPC_PORT=$(free_port); done
BASE=http://127.0.0.1:$PORT

export DATABASE_URL=sqlite://$WORK/engine.db
export PORT GRPC_PORT
export HOST=127.0.0.1
export ENVIRONMENT=test
export JWT_SECRET=ui-test-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export TRIGGER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export LOG_FORMAT=json
unset REDIS_URL SCHEDULER_URL

"$BIN" >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!

healthy() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$BASE/health" 2>/dev/null
}
for _ in $(seq 1 300); do
  if healthy; then break; fi
  if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
    say "the engine exited before it was ready:"
    tail -n 20 "$WORK/engine.log" >&2
    exit 1
  fi
  sleep 0.1
done
healthy || { say "the engine is not healthy after 30s"; exit 1; }

ADMIN_TOKEN=$("$BIN" token --role admin --sub ui-e2e-admin)
VIEWER_TOKEN=$("$BIN" token --role viewer --sub ui-e2e-viewer)
export BASE ADMIN_TOKEN VIEWER_TOKEN ARTIFACTS

say "driving headless chromium against $BASE"
(cd "$WEB" && node --test --test-concurrency=1 e2e/)

# The stream tickets and tokens must never reach the log.
if grep -qF -e "$ADMIN_TOKEN" -e "ticket=" "$WORK/engine.log"; then
  say "a token or a stream ticket was logged"
  exit 1
fi
say "screenshot of the instance page: $ARTIFACTS/instance.png"
