#!/usr/bin/env bash
# Builds, without any container registry, the local images that stand in for the public ones
# docker-compose.yml names, and reuses each one while its recipe is unchanged:
#
#   local/debian:bookworm        debootstrap --variant=minbase from the configured apt mirror
#   local/debian:bookworm-slim   the same without docs, man pages, locales and apt lists
#                                (stands in for debian:bookworm-slim, the runtime base)
#   local/postgres:15-bookworm   Debian's PostgreSQL 15 + an entrypoint with the official
#                                image's POSTGRES_* / initdb.d contract (for postgres:16-bookworm)
#   local/nginx:bookworm         Debian's nginx + curl (for nginx:1.27-bookworm)
#   local/rust:bookworm          gcc + this machine's Rust toolchain (for rust:1.95-bookworm)
#
# Each image carries the label `ci.recipe`: a hash of its Dockerfile directory, of the image
# it is built on and, for the builder, of the toolchain and CA certificates copied in. A
# matching label means the image is reused as it is. FORCE_IMAGES=1 rebuilds everything.
#
# Usage: deploy/ci/images.sh            (prints one line per image: reused or built, seconds)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NICE=(nice -n 19)

BASE=local/debian:bookworm
SLIM=local/debian:bookworm-slim
POSTGRES=local/postgres:15-bookworm
NGINX=local/nginx:bookworm
RUST=local/rust:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
TOOLCHAIN=${RUST_TOOLCHAIN_DIR:-$(rustc --print sysroot)}

label_of() { docker image inspect -f '{{index .Config.Labels "ci.recipe"}}' "$1" 2>/dev/null || true; }
image_id() { docker image inspect -f '{{.Id}}' "$1"; }
fresh() { [ "${FORCE_IMAGES:-0}" != 1 ] && [ "$(label_of "$1")" = "$2" ]; }
report() { printf '  %-28s %-7s %4ss\n' "$1" "$2" "$3"; }

# Hash of every file under a directory (names and contents), plus extra words.
recipe_hash() {
  local dir=$1
  shift
  { (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum); printf '%s\n' "$@"; } |
    sha256sum | cut -c1-32
}

ensure_base() {
  local started=$SECONDS recipe
  recipe=$(printf 'debootstrap minbase bookworm %s\n' "$MIRROR" | sha256sum | cut -c1-32)
  if docker image inspect "$BASE" >/dev/null 2>&1 && { [ "${FORCE_IMAGES:-0}" != 1 ]; }; then
    # An image imported by hand before this script existed has no label but the same recipe.
    report "$BASE" reused $((SECONDS - started))
    return
  fi
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local root
  root=$(mktemp -d /tmp/debian-rootfs.XXXXXX)
  "${NICE[@]}" debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/tmp/debootstrap.log 2>&1 ||
    { tail -20 /tmp/debootstrap.log >&2; exit 1; }
  tar -C "$root" -c . | docker import --change "LABEL ci.recipe=$recipe" - "$BASE" >/dev/null
  rm -rf "$root"
  report "$BASE" built $((SECONDS - started))
}

ensure_slim() {
  local started=$SECONDS recipe
  recipe=$(printf 'slim of %s\n' "$(image_id "$BASE")" | sha256sum | cut -c1-32)
  if fresh "$SLIM" "$recipe"; then
    report "$SLIM" reused $((SECONDS - started))
    return
  fi
  local name="ci-slim-$$"
  # The same path excludes as the official slim images, so later apt installs stay small too.
  docker run --name "$name" "$BASE" sh -c '
    set -e
    printf "%s\n" "path-exclude /usr/share/doc/*" "path-include /usr/share/doc/*/copyright" \
      "path-exclude /usr/share/man/*" "path-exclude /usr/share/info/*" \
      "path-exclude /usr/share/locale/*" "path-include /usr/share/locale/locale.alias" \
      > /etc/dpkg/dpkg.cfg.d/docker-slim
    find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find /usr/share/doc -mindepth 1 -type d -empty -delete
    rm -rf /usr/share/man/* /usr/share/info/* /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
    find /usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  ' >/dev/null
  docker export "$name" | docker import --change "LABEL ci.recipe=$recipe" - "$SLIM" >/dev/null
  docker rm "$name" >/dev/null
  report "$SLIM" built $((SECONDS - started))
}

# build_from_dir TAG DIR [extra recipe words…]: docker build of DIR on the base image.
build_from_dir() {
  local tag=$1 dir=$2 started=$SECONDS recipe
  shift 2
  recipe=$(recipe_hash "$dir" "$(image_id "$BASE")" "$@")
  if fresh "$tag" "$recipe"; then
    report "$tag" reused $((SECONDS - started))
    return
  fi
  "${NICE[@]}" docker build -q --label "ci.recipe=$recipe" --build-arg "BASE_IMAGE=$BASE" -t "$tag" "$dir" >/dev/null
  report "$tag" built $((SECONDS - started))
}

ensure_rust() {
  local started=$SECONDS recipe certs
  certs=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16)
  recipe=$(recipe_hash "$HERE/rust" "$(image_id "$BASE")" "$("$TOOLCHAIN/bin/rustc" -vV)" "$certs")
  if fresh "$RUST" "$recipe"; then
    report "$RUST" reused $((SECONDS - started))
    return
  fi
  # The build context: this Dockerfile, the machine's extra CA certificates, and the
  # toolchain without its documentation (share/ is about half of its 1.4 GB). Hard links keep
  # the copy instant when /tmp and the toolchain share a file system.
  local context
  context=$(mktemp -d /tmp/rust-image.XXXXXX)
  cp "$HERE/rust/Dockerfile" "$context/"
  mkdir -p "$context/certs" "$context/toolchain"
  cp /usr/local/share/ca-certificates/*.crt "$context/certs/" 2>/dev/null || true
  for part in bin lib libexec etc; do
    [ -e "$TOOLCHAIN/$part" ] || continue
    cp -al "$TOOLCHAIN/$part" "$context/toolchain/" 2>/dev/null || cp -a "$TOOLCHAIN/$part" "$context/toolchain/"
  done
  "${NICE[@]}" docker build -q --label "ci.recipe=$recipe" --build-arg "BASE_IMAGE=$BASE" -t "$RUST" "$context" >/dev/null
  rm -rf "$context"
  report "$RUST" built $((SECONDS - started))
}

ensure_base
ensure_slim
build_from_dir "$POSTGRES" "$HERE/postgres"
build_from_dir "$NGINX" "$HERE/nginx"
ensure_rust
