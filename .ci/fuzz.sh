#!/usr/bin/env bash
# Fuzz smoke for CI: builds every cargo-fuzz target in fuzz/ once, then runs each for
# FUZZ_SECONDS (default 30) from its committed corpus. Fails on the first crash, panic, leak
# or hang, printing the reproducer's path and how to replay it.
#
# cargo-fuzz needs nightly-only rustc flags (sanitizers, coverage instrumentation); the
# toolchain is stable, so RUSTC_BOOTSTRAP=1 unlocks them for this build only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

# -a: debug assertions and overflow checks on, so arithmetic overflow is a finding too.
BUILD_FLAGS=(--debug-assertions)
started=$(date +%s)
cargo fuzz build "${BUILD_FLAGS[@]}"
echo "fuzz targets built in $(( $(date +%s) - started )) s"

# New inputs go to a scratch corpus; the committed one is only read (cmin keeps it small).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Seeds from the conformance vectors beside the checkout, derived here rather than
# committed: the vectors must not be copied into the repository.
VECTORS=${VECTORS_DIR:-$(cd ../.. && pwd)/shared/vectors}
if [ -d "$VECTORS" ]; then
  python3 ../.ci/fuzz-seeds.py "$VECTORS" "$scratch/seeds"
fi

for target in $(cargo fuzz list); do
  mkdir -p "$scratch/$target" "corpus/$target" "artifacts/$target"
  echo "=== fuzz $target for ${FUZZ_SECONDS}s"
  touch "$scratch/$target.started"
  mkdir -p "$scratch/seeds/$target"
  if ! cargo fuzz run "${BUILD_FLAGS[@]}" "$target" "$scratch/$target" "corpus/$target" "$scratch/seeds/$target" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=25 -print_final_stats=1; then
    echo "FUZZ FAILURE in $target" >&2
    find "artifacts/$target" -type f -newer "$scratch/$target.started" | while read -r reproducer; do
      echo "reproducer: fuzz/$reproducer" >&2
      echo "replay:     (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -a $target $reproducer)" >&2
    done
    exit 1
  fi
done
echo "all fuzz targets ran ${FUZZ_SECONDS}s each without a crash"
