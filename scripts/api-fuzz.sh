#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document (GET /api/v1/openapi.json) with
# schemathesis: builds the engine, starts it embedded (a fresh SQLite file, the in-memory queue,
# free ports), mints an admin token, runs every check in every phase (examples, coverage,
# fuzzing, stateful), stops the engine whatever happens, and exits non-zero on any failure:
# a 5xx, a response the spec does not describe, a valid request refused or an invalid one
# accepted.
#
# The two Server-Sent Events endpoints (`/events/stream`) are fuzzed like the rest: the engine
# runs with EVENT_STREAM_MAX_SECONDS=0.5, so an accepted stream ends on its own (as any stream
# does after its lifetime) and schemathesis reads a whole response.
#
# Environment: CARGO_TARGET_DIR (default: the workspace's target directory, as cargo resolves it),
# API_FUZZ_MAX_EXAMPLES (test cases per operation and phase, default 100), API_FUZZ_SEED (a
# seed to replay a run), API_FUZZ_KEEP (keep the work directory with the engine log and the
# reports).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO=${CARGO:-cargo}
CARGO_TARGET_DIR=$(CARGO="$CARGO" "$ROOT/scripts/target-dir.sh")
export CARGO_TARGET_DIR
MAX_EXAMPLES=${API_FUZZ_MAX_EXAMPLES:-100}
SCHEMATHESIS_VERSION='4.32.*'
VENV=$CARGO_TARGET_DIR/api-fuzz-venv

say() { echo "api-fuzz: $*" >&2; }

has_schemathesis() {
  "$1" -c 'import importlib.metadata as m, sys; sys.exit(not m.version("schemathesis").startswith("4.32."))' 2>/dev/null
}

# schemathesis, pinned, in a venv of its own under the target directory, so a CI machine needs
# only python3 and PyPI; where python3 cannot make a venv (no ensurepip), a --user install.
# Sets PY, the interpreter that has it.
ensure_schemathesis() {
  PY=$VENV/bin/python
  if has_schemathesis "$PY"; then return; fi
  say "installing schemathesis ${SCHEMATHESIS_VERSION} into $VENV"
  if python3 -m venv "$VENV" >/dev/null 2>&1; then
    "$PY" -m pip install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}"
    return
  fi
  rm -rf "$VENV"
  PY=$(command -v python3)
  if has_schemathesis "$PY"; then return; fi
  say "no venv support: installing schemathesis ${SCHEMATHESIS_VERSION} with pip --user"
  "$PY" -m pip install --quiet --disable-pip-version-check --user "schemathesis==${SCHEMATHESIS_VERSION}"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

ensure_schemathesis

say "building the engine"
(cd "$ROOT" && "$CARGO" build --quiet --bin workflow-engine)
BIN=$CARGO_TARGET_DIR/debug/workflow-engine

WORK=$(mktemp -d "${TMPDIR:-/tmp}/api-fuzz.XXXXXX")
ENGINE_PID=
cleanup() {
  local status=$?
  if [[ -n "$ENGINE_PID" ]] && kill -0 "$ENGINE_PID" 2>/dev/null; then
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    # A graceful stop takes well under a second; don't let a stuck one hold CI.
    for _ in $(seq 1 100); do
      kill -0 "$ENGINE_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 || -n "${API_FUZZ_KEEP:-}" ]]; then
    say "engine log and reports kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(free_port)
GRPC_PORT=$(free_port)
while [[ "$GRPC_PORT" == "$PORT" ]]; do GRPC_PORT=$(free_port); done
BASE=http://127.0.0.1:$PORT

# The embedded engine: gateway, scheduler and workers in one process, SQLite and the in-memory
# queue. Test-only secrets, made up for this run.
export DATABASE_URL=sqlite://$WORK/engine.db
export PORT GRPC_PORT
export HOST=127.0.0.1
export ENVIRONMENT=test
export JWT_SECRET=api-fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export TRIGGER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export LOG_FORMAT=json
export EVENT_STREAM_MAX_SECONDS=0.5
unset REDIS_URL SCHEDULER_URL

"$BIN" >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!

healthy() {
  "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$BASE/health" 2>/dev/null
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

TOKEN=$("$BIN" token --role admin --sub api-fuzz)

SEED_ARGS=()
if [[ -n "${API_FUZZ_SEED:-}" ]]; then SEED_ARGS=(--seed "$API_FUZZ_SEED"); fi

# What the spec cannot say. A workflow definition is checked beyond its JSON shape (each step
# type's config, references between steps, expressions), so a definition that fits the schema's
# outline can still be invalid content: 422 is a right answer to it, for creating and updating
# a template alike. A trigger's config is the same: a schedule's cron expression and time zone
# are parsed, not matched by a pattern, and so is an event stream's `type` filter (a
# comma-separated list of event type names). Everything else is checked as the spec states it.
cat >"$WORK/schemathesis.toml" <<'TOML'
[phases.examples.extra-data-sources]
responses = true

[[operations]]
include-operation-id = ["create_template", "update_template", "create_trigger", "stream_events", "stream_instance_events"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422]
TOML

say "fuzzing $BASE (max ${MAX_EXAMPLES} examples per operation)"
set +e
# From the work directory: schemathesis keeps a cache in the current one.
cd "$WORK"
"$PY" -m schemathesis.cli --config-file "$WORK/schemathesis.toml" run "$BASE/api/v1/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --checks all \
  --max-examples "$MAX_EXAMPLES" \
  --request-timeout 10 \
  --no-color \
  --report junit --report-dir "$WORK/report" \
  "${SEED_ARGS[@]}" 2>&1 | tee "$WORK/schemathesis.log"
STATUS=${PIPESTATUS[0]}
set -e

if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
  say "the engine died during the run"
  STATUS=1
fi
# The gateway logs an error exactly when it answers 500 or the scheduler sends it something
# unreadable: either is a failure even if no check caught it. Other parts' errors are shown.
if grep -q '"level":"ERROR".*"target":"gateway' "$WORK/engine.log"; then
  say "the gateway logged errors:"
  grep '"level":"ERROR".*"target":"gateway' "$WORK/engine.log" | head -n 5 >&2
  STATUS=1
elif grep -q '"level":"ERROR"' "$WORK/engine.log"; then
  say "note: the engine logged errors (not the gateway):"
  grep '"level":"ERROR"' "$WORK/engine.log" | head -n 5 >&2
fi

# schemathesis's last line: "=== No issues found in 56.39s ===", "=== 2 failures in 9.1s ===".
SUMMARY=$(grep -E '^=+ .* in [0-9.]+s =+$' "$WORK/schemathesis.log" | tail -n 1 || true)
if [[ $STATUS -eq 0 ]]; then
  echo "api-fuzz: PASS ${SUMMARY:-(no summary)}"
else
  echo "api-fuzz: FAIL (exit $STATUS) ${SUMMARY:-(no summary)}"
fi
exit "$STATUS"
