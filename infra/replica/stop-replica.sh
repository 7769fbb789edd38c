#!/usr/bin/env bash
# Stops a replica started by start-replica.sh and removes its data directory.
set -euo pipefail
DATA_DIR=${1:?usage: stop-replica.sh DATA_DIR}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -f "$DATA_DIR/postmaster.pid" ] || { rm -rf "$DATA_DIR"; exit 0; }
if [ "$(id -un)" = postgres ]; then "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m immediate -w stop >/dev/null || true
else runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m immediate -w stop >/dev/null || true; fi
rm -rf "$DATA_DIR"
