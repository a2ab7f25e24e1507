#!/usr/bin/env bash
# The e2e suite's fault hook for the docker compose stack (E2E_FAULT_HOOK; see e2e/src/control.rs):
# the black-box scenarios reach, kill and restart replicas through it.
#
#   fault-hook.sh replicas <service>          one base URL per running replica, by number
#   fault-hook.sh kill <service> <n|all>      SIGKILL (docker kill); returns once stopped
#   fault-hook.sh restart <service> <n|all>   docker start; returns once /readyz answers 200
#   fault-hook.sh database <down|up>          stops / starts PostgreSQL (up: once healthy)
#   fault-hook.sh rotate-keys                 auth-service rotate-keys in one auth replica
#
# <service> is auth-service, orders-service or notifications-service; replica <n> is compose's
# container number (`<project>_orders-service_2` is orders-service replica 2, as is
# `<project>-orders-service-2` with Compose v2). Exit status: 0 done, 3 not supported,
# anything else failed (with the reason on stderr).
#
# Containers are found by compose's labels, so this works with docker-compose 1.x and
# Compose v2 alike. COMPOSE_PROJECT_NAME names the project (default: the repository
# directory's name, compose's own default). Replica URLs are container addresses on the
# project's `backend` network, which this machine reaches directly.
set -euo pipefail

UNSUPPORTED=3
READY_TIMEOUT=${FAULT_HOOK_READY_TIMEOUT:-120}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
default_project=$(basename "$root" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-')
project=${COMPOSE_PROJECT_NAME:-$default_project}

fail() {
  echo "fault-hook: $*" >&2
  exit 1
}

check_service() {
  case "$1" in
    auth-service | orders-service | notifications-service | postgres) ;;
    *) fail "unknown service '$1'" ;;
  esac
}

# Container ids of a service ("all") or of one replica number, ordered by number; stopped
# containers included.
containers() {
  local service=$1 which=${2:-all}
  docker ps -a \
    --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$service" \
    --format '{{.Label "com.docker.compose.container-number"}} {{.ID}}' |
    sort -n |
    while read -r number id; do
      if [ "$which" = all ] || [ "$which" = "$number" ]; then
        echo "$id"
      fi
    done
}

selected() {
  local ids
  ids=$(containers "$1" "$2")
  [ -n "$ids" ] || fail "no container for $1 replica $2 in project $project"
  echo "$ids"
}

address() {
  docker inspect -f "{{with index .NetworkSettings.Networks \"${project}_backend\"}}{{.IPAddress}}{{end}}" "$1"
}

running() {
  [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ]
}

# Polls until `check <arg>` succeeds, for at most READY_TIMEOUT seconds.
wait_for() {
  local what=$1 check=$2 arg=$3 deadline=$((SECONDS + READY_TIMEOUT))
  until "$check" "$arg"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${READY_TIMEOUT}s waiting for $what"
    sleep 0.2
  done
}

stopped() { ! running "$1"; }

ready() {
  local ip
  running "$1" || return 1
  ip=$(address "$1")
  [ -n "$ip" ] && curl -fsS -o /dev/null --max-time 2 "http://$ip:8080/readyz"
}

healthy() {
  [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1")" = healthy ]
}

command=${1:-}
case "$command" in
  replicas)
    service=${2:?usage: replicas <service>}
    check_service "$service"
    for id in $(containers "$service"); do
      if running "$id"; then
        ip=$(address "$id")
        [ -n "$ip" ] && echo "http://$ip:8080/"
      fi
    done
    ;;
  kill)
    service=${2:?usage: kill <service> <n|all>}
    which=${3:?usage: kill <service> <n|all>}
    check_service "$service"
    ids=$(selected "$service" "$which")
    for id in $ids; do
      if running "$id"; then docker kill "$id" >/dev/null; fi
    done
    for id in $ids; do wait_for "$service replica $id to stop" stopped "$id"; done
    ;;
  restart)
    service=${2:?usage: restart <service> <n|all>}
    which=${3:?usage: restart <service> <n|all>}
    check_service "$service"
    ids=$(selected "$service" "$which")
    for id in $ids; do
      if ! running "$id"; then docker start "$id" >/dev/null; fi
    done
    for id in $ids; do wait_for "$service replica $id to answer /readyz" ready "$id"; done
    ;;
  database)
    state=${2:?usage: database <down|up>}
    ids=$(selected postgres all)
    case "$state" in
      down) for id in $ids; do docker stop -t 10 "$id" >/dev/null; done ;;
      up)
        for id in $ids; do
          if ! running "$id"; then docker start "$id" >/dev/null; fi
          wait_for "PostgreSQL to be healthy" healthy "$id"
        done
        ;;
      *) fail "database takes down or up, not '$state'" ;;
    esac
    ;;
  rotate-keys)
    for id in $(containers auth-service); do
      if running "$id"; then
        # Through the entrypoint, which loads DATABASE_URL from its secret file.
        docker exec "$id" docker-entrypoint rotate-keys
        exit 0
      fi
    done
    fail "no auth-service replica is running"
    ;;
  *)
    echo "fault-hook: '$command' is not supported (replicas, kill, restart, database, rotate-keys)" >&2
    exit "$UNSUPPORTED"
    ;;
esac
