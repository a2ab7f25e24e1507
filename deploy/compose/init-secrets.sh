#!/bin/sh
# The `secrets` one-shot of docker-compose.yml: makes this deployment's secrets on its first
# start and gives each container only the ones it needs. Every later start finds them and
# keeps them: PostgreSQL took its passwords when its volume was created, and a new master key
# could not decrypt the signing keys sealed under the old one.
#
#   /secrets/store            every secret, made by generate-secrets.sh (which keeps files
#                             that exist); volume `secrets-store`, mounted nowhere else
#   /secrets/<consumer>       that consumer's share, copied from the store; volumes
#                             `<consumer>-secrets`, mounted read-only at /run/secrets in the
#                             consumer's containers
#
# The shares are files of mode 0644 in directories of mode 0755: each volume is reachable only
# from the containers that mount it, and those read the files as their own non-root users
# (10001 for the services, postgres for PostgreSQL). `docker compose down -v` deletes the
# volumes together with the database, so the next start generates a fresh, matching set.
#
# Usage (by compose): init-secrets.sh   (runs as root: fresh volumes belong to root)
#   SECRETS_ROOT   where the volumes are mounted (default /secrets; tests use a directory)
set -eu

here=$(dirname "$0")
root=${SECRETS_ROOT:-/secrets}
store=$root/store

sh "$here/generate-secrets.sh" "$store"

# share CONSUMER FILE...: copies each FILE into $root/CONSUMER unless it is already there
# with the same contents (the store is the one source; a share never differs from it).
share() {
  consumer=$1
  shift
  target_dir=$root/$consumer
  mkdir -p "$target_dir"
  chmod 0755 "$target_dir"
  for name in "$@"; do
    if cmp -s "$store/$name" "$target_dir/$name"; then
      continue
    fi
    cp "$store/$name" "$target_dir/$name.tmp"
    chmod 0644 "$target_dir/$name.tmp"
    mv "$target_dir/$name.tmp" "$target_dir/$name"
    echo "shared    $name with $consumer"
  done
}

# PostgreSQL's init script creates each service's role with the password in its URL.
share postgres postgres_password auth_database_url orders_database_url notifications_database_url
share auth auth_master_key auth_clients auth_database_url
share orders orders_client_secret orders_database_url
share notifications notifications_database_url
