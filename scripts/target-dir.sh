#!/usr/bin/env bash
# Prints the target directory as cargo resolves it for this workspace: CARGO_TARGET_DIR when set,
# else a cargo config's build.target-dir, else the workspace's own target/. The scripts and the
# Makefile ask here rather than assume a path.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
"${CARGO:-cargo}" metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
