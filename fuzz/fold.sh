#!/usr/bin/env bash
# Folds a fuzz run's finds into a target's committed corpus, minimised:
#
#   fuzz/fold.sh <target> <finds dir>    (from anywhere; the target built by `cargo fuzz build -a`)
#
# 1. Finds that carry a 32-byte run of ../shared/vectors, or of the seeds .ci/fuzz-seeds.py
#    derives from them, are left out: the vectors must not be copied into the repository,
#    and a find mutated from a vector mostly is one.
# 2. The rest join corpus/<target> by libFuzzer's set-cover merge: the hand-written seeds stay,
#    and the fewest finds that add new coverage features come in.
set -euo pipefail

target=${1:?usage: fold.sh <target> <finds dir>}
finds=$(cd "${2:?usage: fold.sh <target> <finds dir>}" && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")"
VECTORS=${VECTORS_DIR:-$(cd ../.. && pwd)/shared/vectors}
binary=target/x86_64-unknown-linux-gnu/release/$target
[ -x "$binary" ] || { echo "build the targets first: RUSTC_BOOTSTRAP=1 cargo fuzz build -a" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 ../.ci/fuzz-seeds.py "$VECTORS" "$scratch/seeds" >/dev/null
mkdir -p "$scratch/seeds/$target" "$scratch/clean"

python3 - "$VECTORS" "$scratch/seeds/$target" "$finds" "$scratch/clean" <<'PY'
import os, sys
W = 32
vectors, seeds, finds, clean = sys.argv[1:5]
windows = set()
for root in (vectors, seeds):
    for folder, _, files in os.walk(root):
        for name in files:
            data = open(os.path.join(folder, name), "rb").read()
            windows.update(data[i:i + W] for i in range(len(data) - W + 1))
kept = dropped = 0
for name in os.listdir(finds):
    data = open(os.path.join(finds, name), "rb").read()
    if any(data[i:i + W] in windows for i in range(len(data) - W + 1)):
        dropped += 1
        continue
    open(os.path.join(clean, name), "wb").write(data)
    kept += 1
print(f"{kept} finds kept, {dropped} left out (they carry vector material)")
PY

before=$(find "corpus/$target" -type f | wc -l)
"$binary" -set_cover_merge=1 -timeout=25 "corpus/$target" "$scratch/clean" 2>"$scratch/merge.log" ||
  { tail -20 "$scratch/merge.log" >&2; exit 1; }
after=$(find "corpus/$target" -type f | wc -l)
echo "corpus/$target: $before -> $after files ($(cat "corpus/$target"/* | wc -c) bytes)"
