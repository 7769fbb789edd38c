#!/usr/bin/env bash
# Stops a replica started by start-replica.sh, drops its replication slot on the
# primary (a forgotten slot retains WAL forever) and removes its data directory.
#   infra/replica/stop-replica.sh DATA_DIR PORT
set -euo pipefail
# shellcheck source=infra/replica/common.sh
source "$(dirname "$0")/common.sh"
if [ -f "$DATA_DIR/postmaster.pid" ]; then
  if [ "$(id -un)" = postgres ]; then "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m immediate -w stop >/dev/null || true
  else runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m immediate -w stop >/dev/null || true; fi
fi
psql -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -d postgres -Atq \
  -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${SLOT}'" >/dev/null || true
rm -rf "$DATA_DIR"
