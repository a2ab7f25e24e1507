#!/bin/sh
# Entrypoint of the service images: moves secrets from files into the environment, then
# replaces itself with the service binary (PID 1, so SIGTERM reaches it directly).
#
# The services read their configuration from environment variables only. Secrets (a
# database URL with its password, a client secret, the list of registered clients) come from
# files that docker compose or Kubernetes mount, named by FILE__<VARIABLE>:
#
#   FILE__DATABASE_URL=/run/secrets/orders_database_url   ->  DATABASE_URL=<file contents>
#
# Trailing newlines are dropped. Setting both NAME and FILE__NAME is an error, and so is a
# file that cannot be read: the container stops at once instead of starting with a default.
# (auth-service reads its master key from a file itself: AUTH_MASTER_KEY_FILE.)
#
# Usage: docker-entrypoint [serve | healthcheck | other subcommand …]
set -eu

: "${SERVICE:?SERVICE is not set: this script belongs to the service images}"

for name in $(env | sed -n 's/^FILE__\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
  eval "path=\${FILE__${name}}"
  eval "already=\${${name}:-}"
  if [ -n "$already" ]; then
    echo "docker-entrypoint: both ${name} and FILE__${name} are set; keep one" >&2
    exit 2
  fi
  if [ ! -r "$path" ]; then
    echo "docker-entrypoint: FILE__${name} names ${path}, which cannot be read" >&2
    exit 2
  fi
  value=$(cat "$path")
  export "${name}=${value}"
  unset "FILE__${name}"
done

exec "/usr/local/bin/${SERVICE}" "$@"
