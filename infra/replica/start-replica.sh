#!/usr/bin/env bash
# Starts a real streaming read replica (hot standby) of the local PostgreSQL
# server, for the gateway's read-replica tests.
#
#   infra/replica/start-replica.sh DATA_DIR PORT    # prints "replica ready on 127.0.0.1:PORT"
#   infra/replica/stop-replica.sh DATA_DIR PORT
#
# Needs: PostgreSQL binaries (pg_basebackup, pg_ctl; default /usr/lib/postgresql/15/bin,
# override with PG_BIN), the primary at PRIMARY_HOST:PRIMARY_PORT (127.0.0.1:5432) with
# wal_level=replica (the default) and a pg_hba.conf entry allowing replication
# connections from 127.0.0.1. When that entry is missing and we may edit the file
# (root), it is appended and the primary's config reloaded:
#
#   echo 'host replication all 127.0.0.1/32 trust' >> "$(psql -h 127.0.0.1 -U postgres -Atc 'SHOW hba_file')"
#   psql -h 127.0.0.1 -U postgres -c 'SELECT pg_reload_conf()'
#
# The replica runs as the `postgres` OS user (root runs it through runuser) in
# DATA_DIR on 127.0.0.1:PORT only, and follows the primary over streaming replication.
set -euo pipefail

# shellcheck source=infra/replica/common.sh
source "$(dirname "$0")/common.sh"
PSQL=(psql -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -d postgres -Atq -v ON_ERROR_STOP=1)

[ -x "$PG_BIN/pg_basebackup" ] || { echo "start-replica: no pg_basebackup under PG_BIN=$PG_BIN" >&2; exit 2; }

# Run PostgreSQL tools as the postgres OS user (the server refuses to run as root).
as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@";
  elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@";
  else echo "start-replica: must run as root or postgres" >&2; exit 2; fi
}

# 1. The primary must accept replication connections from 127.0.0.1.
HBA=$("${PSQL[@]}" -c 'SHOW hba_file')
if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$HBA" 2>/dev/null; then
  if [ -w "$HBA" ]; then
    echo 'host replication all 127.0.0.1/32 trust' >> "$HBA"
    "${PSQL[@]}" -c 'SELECT pg_reload_conf()' >/dev/null
    echo "start-replica: added a replication entry to $HBA and reloaded the primary" >&2
  else
    echo "start-replica: $HBA has no 'host replication all 127.0.0.1/32 trust' entry and is not writable" >&2
    exit 2
  fi
fi
WAL_LEVEL=$("${PSQL[@]}" -c 'SHOW wal_level')
[ "$WAL_LEVEL" != minimal ] || { echo "start-replica: primary has wal_level=minimal" >&2; exit 2; }

# 2. A physical replication slot, so the primary keeps every WAL segment the replica
#    has not received yet (other work on a shared server can write and recycle
#    hundreds of MB of WAL while the replica starts). stop-replica.sh drops it; a
#    slot left by a run that died (its replica's port no longer listening) is
#    dropped here, since a forgotten slot would retain WAL forever.
for stale in $("${PSQL[@]}" -c "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'etr\_replica\_%' AND NOT active"); do
  stale_port=${stale#etr_replica_}
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$stale_port") 2>/dev/null; then
    "${PSQL[@]}" -c "SELECT pg_drop_replication_slot('$stale')" >/dev/null 2>&1 || true
  fi
done

# 3. Base backup (-R writes standby.signal, primary_conninfo and primary_slot_name), streaming the WAL it needs.
mkdir -p "$DATA_DIR"
chown postgres:postgres "$DATA_DIR" 2>/dev/null || true
chmod 700 "$DATA_DIR"
as_pg "$PG_BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -D "$DATA_DIR" -R -X stream -c fast -C -S "$SLOT"

# 4. Its own config (Debian keeps the primary's in /etc, so the backup has none): loopback only, trust.
as_pg tee "$DATA_DIR/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA_DIR'
hot_standby = on
hot_standby_feedback = on
max_connections = 100
shared_buffers = 32MB
fsync = off
CONF
as_pg tee "$DATA_DIR/pg_hba.conf" >/dev/null <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$DATA_DIR/server.log" -w -t 60 start >/dev/null
echo "replica ready on 127.0.0.1:$PORT"
