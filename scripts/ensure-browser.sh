#!/usr/bin/env bash
# Makes sure the headless browser of the dashboard's end-to-end tests is here: Debian's
# chromium at /usr/bin/chromium, installed with apt on first use. Playwright's own browser
# downloads are not used (the tests drive this system browser through playwright-core), so a
# machine needs only Debian's packages and the npm registry. Idempotent: does nothing when the
# browser is already installed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $CHROMIUM missing and this is not a Debian machine: install chromium" >&2
  exit 1
fi
echo "installing chromium (Debian package)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
[[ -x "$CHROMIUM" ]] || { echo "error: chromium installed but $CHROMIUM is missing" >&2; exit 1; }
