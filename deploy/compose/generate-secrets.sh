#!/bin/sh
# Writes a fresh, random set of the secrets the stack needs into DIR (created if missing;
# existing files are kept unless --force). docker-compose.yml's `secrets` one-shot runs it on
# every start (through init-secrets.sh), so the first start generates the set and later ones
# keep it; run it yourself for a set of files to feed a secret store (Kubernetes:
# `kubectl create secret generic auth-secrets --from-file=master-key=DIR/auth_master_key …`).
#
#   postgres_password            PostgreSQL superuser
#   auth_master_key              32 random bytes, base64: encrypts auth-service's signing keys
#   orders_client_secret         orders-service's OAuth client secret ...
#   auth_clients                 ... and its registration at auth-service (AUTH_CLIENTS)
#   <service>_database_url       one role and database per service, each with its own password
#
# The files are world-readable (0644) inside a directory only the owner can enter (0700);
# init-secrets.sh copies each container's share into a volume of its own.
#
# A new master key cannot decrypt signing keys sealed with the old one, and PostgreSQL keeps
# the passwords it was initialised with: generate once per database.
#
# Usage: generate-secrets.sh DIR [--force]
set -eu

dir=${1:?usage: generate-secrets.sh DIR [--force]}
force=${2:-}
umask 022
mkdir -p "$dir"
chmod 700 "$dir"

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
random_base64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }

write() {
  if [ -e "$dir/$1" ] && [ "$force" != --force ]; then
    echo "kept      $dir/$1"
    return
  fi
  printf '%s\n' "$2" > "$dir/$1.tmp"
  chmod 0644 "$dir/$1.tmp"
  mv "$dir/$1.tmp" "$dir/$1"
  echo "generated $dir/$1"
}

write postgres_password "$(random_hex 24)"
write auth_master_key "$(random_base64 32)"
for service in auth orders notifications; do
  write "${service}_database_url" "postgres://${service}:$(random_hex 24)@postgres:5432/${service}"
done
# The client secret appears in two files; generate both or neither, so they always match.
if [ ! -e "$dir/orders_client_secret" ] || [ ! -e "$dir/auth_clients" ] || [ "$force" = --force ]; then
  secret=$(random_hex 32)
  force=--force
  write orders_client_secret "$secret"
  write auth_clients "orders-service|${secret}|notifications:write|notifications-service"
else
  echo "kept      $dir/orders_client_secret, $dir/auth_clients"
fi
