#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the restart tests, on 127.0.0.1 only. Idempotent: if it already runs,
# print its URL and exit. Installs the Debian server package first when it is missing (needs root + apt).
#
#   bash scripts/start_postgres.sh          # prints e.g. postgresql://postgres@127.0.0.1:54329/postgres
#   TASK_ROUTER_PG_PORT=55432 TASK_ROUTER_PG_DIR=/tmp/pg bash scripts/start_postgres.sh
#   bash scripts/start_postgres.sh stop     # stops it (the data dir is left for the next start)
set -euo pipefail
PORT="${TASK_ROUTER_PG_PORT:-54329}"
DATA="${TASK_ROUTER_PG_DIR:-/tmp/task_router_pg}"
URL="postgresql://postgres@127.0.0.1:${PORT}/postgres"

find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

as_owner() {  # initdb/pg_ctl refuse to run as root: run them as the data dir's owner
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# One start at a time: test workers running in parallel (pytest -n) may each ask for the server.
# The server must not inherit descriptor 9 (see the start below), or it holds this lock for its whole life.
exec 9>"${DATA%/}.lock"
flock 9

BIN=$(find_bin || true)
if [ "${1:-}" = "stop" ]; then
  [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
  exit 0
fi
if [ -z "$BIN" ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "PostgreSQL is not installed and cannot be installed here (needs root and apt-get)" >&2
    exit 3
  fi
  echo "installing postgresql (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN=$(find_bin)
fi
if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home "$DATA" postgres
fi
if [ ! -f "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"
  [ "$(id -u)" = "0" ] && chown postgres "$DATA"
  chmod 700 "$DATA"
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
fi
if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  # Loopback only; the socket goes into the data dir so that no system directory is needed.
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off" start >&2 9>&-
fi
echo "$URL"
