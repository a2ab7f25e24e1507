#!/bin/sh
# The part of the official postgres image's entrypoint contract that docker-compose.yml uses:
#
#   POSTGRES_PASSWORD / POSTGRES_PASSWORD_FILE   superuser password (one of them is required)
#   POSTGRES_USER (default postgres), POSTGRES_DB (default $POSTGRES_USER)
#   /docker-entrypoint-initdb.d/*.sh and *.sql    run once, against a socket-only server,
#                                                 when the data directory is empty
#   PGDATA (default /var/lib/postgresql/data)     the volume
#
# Started as root, it fixes ownership and re-executes itself as `postgres`.
set -eu

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

if [ "${1:-postgres}" != postgres ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set" >&2
    exit 1
  fi
  POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
export POSTGRES_USER POSTGRES_DB

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: the database is uninitialized and POSTGRES_PASSWORD(_FILE) is not set" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"

  # Initialisation runs against a server that listens on the socket only, so nothing outside
  # the container sees a half-initialised database (and health checks over TCP still fail).
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres --no-psqlrc \
      -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        echo "running $f"
        if [ -x "$f" ]; then "$f"; else . "$f"; fi
        ;;
      *.sql)
        echo "running $f"
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --no-psqlrc -f "$f"
        ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
