# Shared by start-replica.sh and stop-replica.sh: arguments and where the primary and binaries are.
DATA_DIR=${1:?usage: $(basename "$0") DATA_DIR PORT}
PORT=${2:?usage: $(basename "$0") DATA_DIR PORT}
PRIMARY_HOST=${PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
PRIMARY_USER=${PRIMARY_USER:-postgres}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
# The replica's name on the primary; a slot keeps the WAL the replica still needs.
SLOT="etr_replica_${PORT}"
