#!/usr/bin/env bash
# Starts the Debian PostgreSQL cluster and sets the password the test suites use.
# Idempotent: a second run finds it running.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
  as_root pg_createcluster "$version" main >/dev/null
fi
as_root pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
# Many test databases are created in parallel; the default of 100 connections is too few.
as_root su postgres -c "psql -qtAc \"ALTER USER postgres PASSWORD 'postgres'\""
current=$(as_root su postgres -c "psql -qtAc 'SHOW max_connections'")
if [ "$current" -lt 400 ]; then
  as_root su postgres -c "psql -qtAc 'ALTER SYSTEM SET max_connections = 500'"
  as_root pg_ctlcluster "$version" main restart
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
echo "PostgreSQL $version ready on 127.0.0.1:5432"
