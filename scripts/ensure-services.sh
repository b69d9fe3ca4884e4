#!/usr/bin/env bash
# Makes sure the local PostgreSQL and Redis that the test suite needs are running, starting them
# (and on a Debian machine without them, installing them) first. Says exactly what is missing
# when it cannot; the tests that need them never skip silently.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_PORT=6379

have() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  if ! have apt-get; then
    echo "error: $* missing and this is not a Debian machine: install $* and start it on 127.0.0.1" >&2
    exit 1
  fi
  echo "installing $* (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

postgres_up() {
  if have pg_isready; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
  fi
}

redis_up() {
  if have redis-cli; then
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null
  fi
}

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 50); do
    if "$check"; then return 0; fi
    sleep 0.2
  done
  echo "error: $what did not come up on 127.0.0.1" >&2
  exit 1
}

if ! postgres_up; then
  if ! have pg_ctlcluster; then
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The suite connects as postgres over TCP without a password, as on the CI machines. A
  # cluster that does not allow it is started with an hba file of our own (`-c hba_file`), not
  # by editing the system's.
  options=()
  if [ -f "$hba" ] && ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    test_hba="${TMPDIR:-/tmp}/chorus-test-pg_hba.conf"
    printf '%s\n' 'local all all trust' 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust' >"$test_hba"
    chmod 644 "$test_hba"
    echo "starting postgresql $version with trust authentication on 127.0.0.1 ($test_hba)"
    options=(-- -o "-c hba_file=$test_hba")
  else
    echo "starting postgresql $version"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start "${options[@]}" || true
  wait_for postgresql postgres_up
fi

if ! redis_up; then
  if ! have redis-server; then
    apt_install redis-server
  fi
  echo "starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
  wait_for redis redis_up
fi

echo "postgresql and redis are up"
