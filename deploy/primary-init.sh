#!/bin/sh
# Runs once, when the primary's data folder is first created: a replication role for the read replica.
set -eu
if [ -n "${REPLICATION_PASSWORD:-}" ]; then
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
       -c "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}'"
  echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
