#!/usr/bin/env bash
# docker compose, for real: builds the images, brings up docker-compose.yml (with only the
# images' origins swapped by deploy/compose/ci.yml, since CI has no registry) exactly as a
# user does, so its `secrets` one-shot generates the deployment's secrets, checks that every
# replica answers through the gateway, runs the e2e scenarios and the browser tests black-box
# against the gateway, shows that data and secrets survive restarts of PostgreSQL and the
# services and a second `up`, prints image sizes and idle memory, and tears everything down with its volumes. Also
# validates the Kubernetes manifests offline. Prints how long each phase took.
#
# The black-box scenarios need no secret of the stack (they register their own users), so
# nothing is read out of the secret volumes.
#
# Environment (all optional):
#   E2E_COMPOSE_TESTS   e2e test filters to run black-box (default below)
#   GATEWAY_PORT        host port of the gateway (default: a free one)
#   KEEP_STACK=1        leave the stack running at the end (for a look around)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-jwtci}
export IMAGE_TAG=ci
export CARGO_TERM_COLOR=never
# The scenarios that prove the compose stack: orders spread over the replicas and notify,
# tokens verify on every replica, an orders replica killed under load, every auth replica
# stopped (verifiers keep going on cached keys), and the revocation feed (`revocation` selects
# revocation, revocation_late_replica, revocation_issuer_outage and revocation_failover: ended
# sessions refused by every replica within a second, also by restarted verifiers, through an
# issuer outage and when an auth replica dies mid-long-poll; the administrator case needs an
# administrator from `auth-service create-admin`, which only the local harness provisions,
# and prints SKIPPED here).
E2E_COMPOSE_TESTS=${E2E_COMPOSE_TESTS:-login_and_order tokens_everywhere replica_loss issuer_outage revocation dpop}
SERVICES=(auth-service orders-service notifications-service)
declare -A REPLICAS=([auth-service]=2 [orders-service]=3 [notifications-service]=2)
EXPECTED_CONTAINERS=9 # postgres + 2 + 3 + 2 + gateway, besides the `secrets` one-shot
SECRETS_GENERATED=7   # files generate-secrets.sh writes on the first start

if command -v docker-compose >/dev/null; then
  COMPOSE_BIN=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  COMPOSE_BIN=(docker compose)
else
  echo "neither docker-compose nor the docker compose plugin is installed" >&2
  exit 1
fi
COMPOSE=("${COMPOSE_BIN[@]}" -f docker-compose.yml -f deploy/compose/ci.yml)

WORK=$(mktemp -d /tmp/compose-ci.XXXXXX)
if [ -z "${GATEWAY_PORT:-}" ]; then
  GATEWAY_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
export GATEWAY_PORT
export PUBLIC_URL="http://localhost:$GATEWAY_PORT"
GATEWAY=$PUBLIC_URL

PHASES=()
phase_started=0
current_phase=""
started_all=$SECONDS
begin() {
  current_phase=$1
  phase_started=$SECONDS
  printf '\n--- [%s] compose: %s\n' "$(date +%H:%M:%S)" "$1"
}
end() {
  local took=$((SECONDS - phase_started))
  PHASES+=("$(printf '%-56s %5ss' "$current_phase" "$took")")
  printf -- '--- %s took %ss\n' "$current_phase" "$took"
  current_phase=""
}

project_containers() {
  docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --format '{{.ID}}'
}

# The containers meant to keep running: all but the `secrets` one-shot, which exits.
long_running_containers() {
  docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --format '{{.ID}} {{.Label "com.docker.compose.service"}}' | awk '$2 != "secrets" { print $1 }'
}

# The `secrets` one-shot's container (compose keeps it, exited, until `down`).
secrets_container() {
  docker ps -a -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter "label=com.docker.compose.service=secrets"
}

teardown() {
  # The engine can still be detaching the last endpoints when compose removes the networks
  # ("has active endpoints"); `down` is idempotent, so a second try finishes the job.
  local attempt
  for attempt in 1 2 3; do
    if "${COMPOSE[@]}" down -v --remove-orphans --timeout 10 >"$WORK/down.log" 2>&1; then
      return 0
    fi
    echo "compose: down failed (attempt $attempt), retrying" >&2
    sleep 3
  done
  cat "$WORK/down.log" >&2
  return 1
}

on_exit() {
  local status=$?
  if [ "$status" != 0 ]; then
    echo "compose: FAILED during '${current_phase:-?}' (exit $status)" >&2
    if [ -n "$(project_containers)" ]; then
      "${COMPOSE[@]}" ps >&2 || true
      echo "--- last log lines of every container" >&2
      "${COMPOSE[@]}" logs --no-color --tail=40 >&2 || true
    fi
  fi
  if [ "${KEEP_STACK:-0}" = 1 ] && [ "$status" = 0 ]; then
    echo "compose: KEEP_STACK=1, the stack stays up at $GATEWAY (project $COMPOSE_PROJECT_NAME," \
      "GATEWAY_PORT=$GATEWAY_PORT IMAGE_TAG=$IMAGE_TAG; its secrets are in its volumes)"
    exit "$status"
  fi
  if [ -n "$(project_containers)" ]; then
    teardown || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap on_exit EXIT

# Waits until every long-running container of the project runs, each one with a health check
# is healthy and every service replica is ready; prints the table on success.
wait_healthy() {
  local timeout=$1 deadline=$((SECONDS + $1)) ids states total bad
  while :; do
    ids=$(long_running_containers)
    total=$(echo "$ids" | grep -c . || true)
    bad=0
    if [ "$total" -ne "$EXPECTED_CONTAINERS" ]; then
      bad=1
    else
      states=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $ids)
      if echo "$states" | grep -qv -e '^running healthy$' -e '^running none$'; then bad=1; fi
    fi
    [ "$bad" = 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "the stack was not healthy within ${timeout}s ($total containers):" >&2
      docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' $ids >&2 || true
      return 1
    fi
    sleep 1
  done
  # Docker's health checks ask /healthz (the process serves); ready (/readyz) also means
  # database reachable and keys loaded. Every replica is asked directly at its address.
  local id ip
  for id in $(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter "label=com.docker.compose.service" | sort); do
    case "$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id")" in
      postgres | gateway) continue ;;
    esac
    ip=$(docker inspect -f "{{with index .NetworkSettings.Networks \"${COMPOSE_PROJECT_NAME}_backend\"}}{{.IPAddress}}{{end}}" "$id")
    until curl -fsS -o /dev/null --max-time 2 "http://$ip:8080/readyz"; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "replica $id at $ip is not ready within ${timeout}s:" >&2
        curl -sS --max-time 2 "http://$ip:8080/readyz" >&2 || true
        return 1
      fi
      sleep 0.5
    done
  done
  docker ps --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}' | sort
}

# curl through the gateway; prints the body, fails on an unexpected status.
api() {
  local expected=$1 method=$2 path=$3
  shift 3
  local out="$WORK/body" status
  status=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "$GATEWAY$path" "$@")
  if [ "$status" != "$expected" ]; then
    echo "$method $path: expected $expected, got $status: $(head -c 500 "$out")" >&2
    return 1
  fi
  cat "$out"
}

# GET path N times through the gateway; prints the distinct X-Served-By values with counts.
served_by() {
  local path=$1 count=$2
  shift 2
  for _ in $(seq "$count"); do
    curl -sS -o /dev/null -D - "$GATEWAY$path" "$@" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]erved-[Bb]y: //p'
  done | sort | uniq -c
}

# ---------------------------------------------------------------------------------------
begin "kubernetes manifests"
bash deploy/k8s/validate.sh "$WORK/k8s"
end

begin "local base images"
bash deploy/ci/images.sh 2>"$WORK/images.err" || { cat "$WORK/images.err" >&2; exit 1; }
end

begin "service images (one release build)"
declare -A before=()
for service in "${SERVICES[@]}"; do
  before[$service]=$(docker image inspect -f '{{.Id}}' "jwt-demo/$service:$IMAGE_TAG" 2>/dev/null || echo none)
done
# docker-compose builds the services one after another; the builder stages are identical for
# the three, so the first build compiles and the other two reuse its layers.
if ! nice -n 19 "${COMPOSE[@]}" build "${SERVICES[@]}" >"$WORK/build.log" 2>&1; then
  tail -60 "$WORK/build.log" >&2
  exit 1
fi
grep -E 'Finished|Compiling (shared|auth-service|orders-service|notifications-service) ' "$WORK/build.log" | sed 's/\x1b\[[0-9;]*m//g' || true
for service in "${SERVICES[@]}"; do
  after=$(docker image inspect -f '{{.Id}}' "jwt-demo/$service:$IMAGE_TAG")
  if [ "${before[$service]}" = "$after" ]; then state=unchanged; else state=new; fi
  printf '  jwt-demo/%s:%s %s (%s)\n' "$service" "$IMAGE_TAG" "${after:7:12}" "$state"
done
end

begin "the page image (Kubernetes), built and probed read-only as user 101"
docker build -q -f deploy/gateway/page.Dockerfile --build-arg NGINX_IMAGE=local/nginx:bookworm \
  -t "jwt-demo/page:$IMAGE_TAG" . >"$WORK/page-build.log" 2>&1 || { cat "$WORK/page-build.log" >&2; exit 1; }
# As page.yaml runs it: read-only root, one writable /tmp, no capabilities, uid 101.
page=$(docker run -d --read-only --tmpfs /tmp --cap-drop ALL --user 101:101 -p 127.0.0.1::8080 "jwt-demo/page:$IMAGE_TAG")
page_url="http://127.0.0.1:$(docker port "$page" 8080/tcp | head -1 | sed 's/.*://')"
page_probe() { # expected-status method path [grep pattern over the headers]
  local headers
  headers=$(curl -sS -o /dev/null -D - -X "$2" "$page_url$3" | tr -d '\r')
  if ! grep -q "^HTTP/1.1 $1" <<<"$headers" || { [ -n "${4:-}" ] && ! grep -qi "$4" <<<"$headers"; }; then
    echo "page image: $2 $3 should answer $1 ${4:+with $4}; it answered:" >&2
    echo "$headers" >&2
    docker logs "$page" >&2 || true
    docker rm -f "$page" >/dev/null
    exit 1
  fi
}
for _ in $(seq 50); do curl -fsS -o /dev/null "$page_url/readyz" 2>/dev/null && break; sleep 0.2; done
page_probe 200 GET / "^content-security-policy: default-src 'self'"
page_probe 200 GET /assets/app.js "^content-type: text/javascript"
page_probe 404 GET /assets/missing.js "^content-type: application/json"
page_probe 404 GET /README.md "^content-type: application/json"
page_probe 405 POST / "^allow: GET, HEAD"
docker rm -f "$page" >/dev/null
echo "jwt-demo/page:$IMAGE_TAG serves the page read-only as user 101: /, its modules, JSON 404 and 405"
end

begin "stack up (docker-compose up -d)"
# A run that was interrupted may have left its stack behind.
if [ -n "$(project_containers)" ]; then teardown; fi
# Exactly what users run: the `secrets` one-shot generates this stack's secrets into its
# volumes before anything else starts.
"${COMPOSE[@]}" up -d --no-build >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
wait_healthy 240
docker logs "$(secrets_container)" 2>&1 | sed 's/^/  secrets: /'
end

begin "every replica answers through the gateway"
api 200 GET /healthz >/dev/null
email="compose-ci-$(date +%s)-$$@example.com"
password="correct horse battery staple"
credentials=$(jq -cn --arg e "$email" --arg p "$password" '{email: $e, password: $p}')
api 201 POST /v1/users -H 'content-type: application/json' -d "$credentials" >/dev/null
token=$(api 200 POST /v1/login -H 'content-type: application/json' -d "$credentials" | jq -r .access_token)
order=$(api 201 POST /v1/orders -H 'content-type: application/json' -H "authorization: Bearer $token" \
  -d '{"items":[{"sku":"COMPOSE-CI","quantity":2}]}')
order_id=$(echo "$order" | jq -r .id)
kids_before=$(api 200 GET /.well-known/jwks.json | jq -r '[.keys[].kid] | sort | join(" ")')
spread_ok=1
for service in "${SERVICES[@]}"; do
  case "$service" in
    auth-service) path=/.well-known/jwks.json ;;
    orders-service) path=/v1/orders ;;
    notifications-service) path=/v1/notifications ;;
  esac
  seen=$(served_by "$path" 30 -H "authorization: Bearer $token")
  distinct=$(echo "$seen" | grep -c "$service/" || true)
  echo "$service: $distinct of ${REPLICAS[$service]} replicas answered 30 requests to $path"
  echo "$seen" | sed 's/^/    /'
  [ "$distinct" -eq "${REPLICAS[$service]}" ] || spread_ok=0
done
[ "$spread_ok" = 1 ] || { echo "not every replica answered through the gateway" >&2; exit 1; }
end

begin "e2e scenarios, black-box through the gateway"
# `--workspace` selects the same packages as the workspace test run before this script, so
# cargo resolves the same features and reuses that build instead of compiling e2e anew.
# One scenario at a time: they kill replicas of the one shared stack.
# shellcheck disable=SC2086 # the filters are words
E2E_BASE_URL="$GATEWAY" \
  E2E_FAULT_HOOK="$ROOT/deploy/compose/fault-hook.sh" \
  E2E_TOPOLOGY="auth=2,orders=3,notifications=2" \
  E2E_DATABASE_KIND=postgres \
  cargo test -q --workspace --test e2e -- --test-threads=1 --nocapture $E2E_COMPOSE_TESTS 2>&1 | tee "$WORK/e2e.log"
ran=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$WORK/e2e.log" | tail -1)
if [ "${ran:-0}" -lt 1 ]; then
  echo "no e2e scenario matched the filters '$E2E_COMPOSE_TESTS'" >&2
  exit 1
fi
# The scenarios kill and restart replicas; the stack must be whole again afterwards.
wait_healthy 120 >/dev/null
end

begin "browser tests, black-box through the gateway"
# The page as docker compose's nginx serves it (deploy/gateway/compose.conf, the page mounted
# read-only), in headless Chromium, against the whole system on PostgreSQL.
E2E_BASE_URL="$GATEWAY" cargo test -q --workspace --test browser -- --test-threads=1 --nocapture 2>&1 |
  tee "$WORK/browser.log"
grep -q '^test result: ok\. [1-9]' "$WORK/browser.log" || { echo "no browser test ran" >&2; exit 1; }
end

begin "data survives restarts of PostgreSQL and the services"
"${COMPOSE[@]}" restart postgres >"$WORK/restart.log" 2>&1 || { cat "$WORK/restart.log" >&2; exit 1; }
"${COMPOSE[@]}" restart "${SERVICES[@]}" >>"$WORK/restart.log" 2>&1 || { cat "$WORK/restart.log" >&2; exit 1; }
wait_healthy 180 >/dev/null
token=$(api 200 POST /v1/login -H 'content-type: application/json' -d "$credentials" | jq -r .access_token)
api 200 GET "/v1/orders/$order_id" -H "authorization: Bearer $token" | jq -c '{id, owner, items}'
kids_after=$(api 200 GET /.well-known/jwks.json | jq -r '[.keys[].kid] | sort | join(" ")')
for kid in $kids_before; do
  case " $kids_after " in
    *" $kid "*) ;;
    *) echo "signing key $kid was lost across the restart (before: $kids_before, after: $kids_after)" >&2; exit 1 ;;
  esac
done
echo "after restarting postgres and every service: the user logs in, order $order_id is there, signing keys kept ($kids_after)"
end

begin "a second up keeps the generated secrets"
# `up` runs the one-shot again; it must find every secret and generate none, or PostgreSQL's
# passwords and the sealed signing keys would no longer match.
"${COMPOSE[@]}" up -d --no-build >>"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
wait_healthy 180 >/dev/null
secrets_id=$(secrets_container)
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$secrets_id")
secrets_log=$(docker logs "$secrets_id" 2>&1)
generated=$(grep -c '^generated' <<<"$secrets_log" || true)
kept=$(grep -c '^kept' <<<"$secrets_log" || true)
echo "secrets one-shot: exit $exit_code, $generated file(s) generated in all its runs, $kept kept"
if [ "$exit_code" != 0 ] || [ "$generated" -ne "$SECRETS_GENERATED" ]; then
  echo "the secrets one-shot failed or generated secrets again (expected $SECRETS_GENERATED, once):" >&2
  echo "$secrets_log" >&2
  exit 1
fi
token=$(api 200 POST /v1/login -H 'content-type: application/json' -d "$credentials" | jq -r .access_token)
api 200 GET "/v1/orders/$order_id" -H "authorization: Bearer $token" >/dev/null
echo "after a second up: secrets kept, the user logs in, order $order_id is there"
end

begin "image sizes and idle memory"
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E "^jwt-demo/.*:$IMAGE_TAG" | sort | column -t
# A few quiet seconds, so the figures are idle ones.
sleep 5
docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}' $(long_running_containers) | sort | column -t
end

begin "teardown (down -v)"
if [ "${KEEP_STACK:-0}" != 1 ]; then
  teardown
  if [ -n "$(project_containers)" ] || docker volume ls -q | grep -q "^${COMPOSE_PROJECT_NAME}_"; then
    echo "containers or volumes (database, secrets) survived docker-compose down -v" >&2
    exit 1
  fi
  echo "no container, network or volume of project $COMPOSE_PROJECT_NAME is left"
fi
end

printf '\ncompose phases:\n'
printf '  %s\n' "${PHASES[@]}"
printf '  %-56s %5ss\n' "total" "$((SECONDS - started_all))"
