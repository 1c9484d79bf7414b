#!/bin/sh
# Runs once, when the primary's data directory is first made (the image's
# /docker-entrypoint-initdb.d): the replication role and the pg_hba.conf line that lets
# the replicas of the Compose network stream from this server.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SQL
echo "host replication replicator samenet scram-sha-256" >> "$PGDATA/pg_hba.conf"
