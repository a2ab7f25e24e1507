#!/usr/bin/env bash
# Smoke run of the benchmarks: every comparison for about a second, so the runner,
# its servers, the peer project and the wrk scripts cannot rot. Called from .ci/run.
#
# Never fails on a speed figure: it fails only when a comparison cannot run at all (a server
# that does not start, a valid token refused, wrk missing). No report is written.
#
# Debug profile on purpose: CI has just built the workspace in it for the tests, so this costs
# the bench crate and the peer project only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null; then
  echo "bench-smoke: installing wrk (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

cargo run -q -p bench -- smoke
