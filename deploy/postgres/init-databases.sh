#!/bin/sh
# One database and one role per service, created the first time PostgreSQL starts on an empty
# volume (the postgres image runs /docker-entrypoint-initdb.d/* then, against a server that
# listens on its socket only).
#
# Each service's DATABASE_URL is a secret (postgres://<role>:<password>@<host>:5432/<database>);
# this script reads the same secrets, so a role's password is written down in one place.
# Every role owns its database and nothing else, and no other role may connect to it: a
# service that is compromised reads its own tables only.
#
#   DATABASE_URLS_DIR   where the <service>_database_url files are (default /run/secrets)
#   SERVICES            which services (default: auth orders notifications)
#
# The same file is used by the Kubernetes dev overlay (deploy/k8s/overlays/dev); CI checks
# that the two copies are identical.
#
# The body runs in a subshell: the postgres image *sources* init scripts that are not
# executable, and neither `set -u` nor `exit` may leak into its entrypoint then.
(
set -eu

dir=${DATABASE_URLS_DIR:-/run/secrets}
services=${SERVICES:-auth orders notifications}

for service in $services; do
  file="$dir/${service}_database_url"
  if [ ! -r "$file" ]; then
    echo "init-databases: cannot read $file" >&2
    exit 1
  fi
  url=$(cat "$file")
  rest=${url#*://}
  credentials=${rest%%@*}
  role=${credentials%%:*}
  password=${credentials#*:}
  database=${rest#*@}
  database=${database#*/}
  database=${database%%\?*}
  for value in "$role" "$database"; do
    case "$value" in
      '' | *[!a-z0-9_]* | [0-9]*)
        echo "init-databases: $file: role and database names must be lower-case identifiers" >&2
        exit 1
        ;;
    esac
  done
  case "$password" in
    '' | "$credentials" | *%*)
      echo "init-databases: $file: expected postgres://role:password@host/database with a password that needs no percent-encoding" >&2
      exit 1
      ;;
  esac
  # psql variables quote the values (:"ident", :'literal'), so no value is ever spliced into
  # SQL text by the shell.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v role="$role" -v password="$password" -v database="$database" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";
SQL
  echo "init-databases: role and database $role/$database ready for $service-service"
done
)
