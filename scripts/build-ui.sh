#!/usr/bin/env bash
# Rebuilds the dashboard's assets (crates/ui/dist, committed and embedded in the gateway) from
# crates/ui/web with the versions in its lock file. Run it after changing anything under
# crates/ui/web and commit dist/ with the change; `make ui-test` fails while they differ.
# Needs Node 20+ and npm (the engine's own build does not).
set -euo pipefail

WEB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../crates/ui/web" && pwd)
cd "$WEB"
# npm ci installs exactly the lock file; skipped when node_modules already holds it.
if ! cmp -s package-lock.json node_modules/.chorus-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.chorus-lock
fi
npx --no-install vite build --logLevel warn "$@"
