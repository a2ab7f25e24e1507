#!/usr/bin/env bash
# cargo deny against the offline RustSec snapshot (no network reaches the live database).
# usage: .ci/deny.sh <path to ../shared/advisory-db>
set -euo pipefail
snapshot=${1:?path to the advisory-db snapshot}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
# cargo-deny looks for the database in a folder named after its default URL.
cp -r "$snapshot" "$db/advisory-db-3157b0e258782691"
git -C "$db/advisory-db-3157b0e258782691" init -q
git -C "$db/advisory-db-3157b0e258782691" add -A
GIT_COMMITTER_DATE=2026-08-21T08:28:40+02:00 git -C "$db/advisory-db-3157b0e258782691" \
  -c user.name=ci -c user.email=ci@localhost commit -qm snapshot --date 2026-08-21T08:28:40+02:00
sed "s|^db-path = .*|db-path = \"$db\"|" deny.toml > "$db/deny.toml"
cargo fetch --locked >/dev/null
cargo deny --offline --config "$db/deny.toml" check advisories
