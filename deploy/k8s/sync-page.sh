#!/usr/bin/env bash
# Refreshes the Kubernetes copy of the browser page: kustomize reads files only from inside
# the kustomization directory, so base/page/ holds a copy of deploy/gateway/www, and
# base/kustomization.yaml lists its files for the two ConfigMaps page.yaml mounts (`page`:
# the top-level files, index.html; `page-assets`: the files of assets/). This script makes
# both match deploy/gateway/www again; validate.sh fails while they do not.
#
# Usage: deploy/k8s/sync-page.sh        (then commit deploy/k8s/base/page/ and kustomization.yaml)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SRC=$ROOT/deploy/gateway/www
DST=$HERE/base/page
KUSTOMIZATION=$HERE/base/kustomization.yaml
BEGIN='  # BEGIN page files (written by deploy/k8s/sync-page.sh)'
END='  # END page files'

fail() { echo "sync-page.sh: $*" >&2; exit 1; }

[ -f "$SRC/index.html" ] || fail "$SRC/index.html is missing"
grep -qxF "$BEGIN" "$KUSTOMIZATION" && grep -qxF "$END" "$KUSTOMIZATION" ||
  fail "$KUSTOMIZATION has lost its BEGIN/END page files markers"

# The layout the ConfigMaps can carry: files at the top and in assets/, nothing deeper (a
# ConfigMap is flat), names that are valid ConfigMap keys, and asset names page-nginx.conf
# serves (no leading dot).
top=() assets=()
while IFS= read -r -d '' path; do
  rel=${path#"$SRC"/}
  case $rel in
    assets) [ -d "$path" ] || fail "assets must be a directory" ;;
    assets/*)
      [ ! -d "$path" ] || fail "$rel: assets/ cannot have subdirectories (a ConfigMap is flat)"
      [ -f "$path" ] || fail "$rel is not a regular file"
      [[ ${rel#assets/} =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]*$ ]] ||
        fail "$rel: asset names are letters, digits, '.', '_' and '-', not starting with '.'"
      assets+=("$rel") ;;
    */*) fail "$rel: only assets/ may be a directory" ;;
    *)
      [ -f "$path" ] || fail "$rel: only assets/ may be a directory"
      [[ $rel =~ ^[A-Za-z0-9._-]+$ ]] || fail "$rel is not a valid ConfigMap key"
      top+=("$rel") ;;
  esac
done < <(find "$SRC" -mindepth 1 -print0 | LC_ALL=C sort -z)

# The copy: exactly the source, nothing left over from an older page.
rm -rf "$DST"
mkdir -p "$DST"
cp -R "$SRC/." "$DST/"

# The generator entries, between the markers.
block=$(mktemp)
trap 'rm -f "$block"' EXIT
{
  echo "  - name: page"
  echo "    files:"
  for rel in "${top[@]}"; do echo "      - page/$rel"; done
  echo "  - name: page-assets"
  if [ "${#assets[@]}" = 0 ]; then
    echo "    literals: []"
  else
    echo "    files:"
    for rel in "${assets[@]}"; do echo "      - page/$rel"; done
  fi
} > "$block"
awk -v begin="$BEGIN" -v end="$END" -v block="$block" '
  $0 == begin { print; while ((getline line < block) > 0) print line; skip = 1; next }
  $0 == end   { skip = 0 }
  !skip       { print }
' "$KUSTOMIZATION" > "$KUSTOMIZATION.tmp"
mv "$KUSTOMIZATION.tmp" "$KUSTOMIZATION"

echo "deploy/k8s/base/page: ${#top[@]} top-level file(s), ${#assets[@]} asset(s) from deploy/gateway/www"
