#!/usr/bin/env bash
# Schemathesis against one replica of each service in a local stack on PostgreSQL (e2e
# scenario api_fuzz): installs schemathesis from PyPI into a virtualenv under target/ (kept
# between runs), then runs the scenario with it required.
# PG_URL (set by .ci/run) names the PostgreSQL server; without it the stack uses SQLite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VERSION=4.32.5
VENV=target/ci-venv/schemathesis

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$VERSION"; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$VERSION"
fi
"$VENV/bin/st" --version

SCHEMATHESIS="$(pwd)/$VENV/bin/st" SCHEMATHESIS_REQUIRED=1 E2E_DATABASE_URL="${PG_URL:-}" \
  cargo test -p e2e --test e2e api_fuzz -- --nocapture
