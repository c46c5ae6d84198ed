#!/usr/bin/env bash
# Local stand-ins for the images that docker-compose.yml and the Dockerfile name, tagged with
# the upstream names, so both build and run unchanged with no image registry: a Debian base
# made by debootstrap from this machine's apt mirror, then Python, Redis, PostgreSQL and Chroma
# on it. Each is rebuilt only when its recipe (or the version it stands in for) changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/compose/podman-env.sh
source "$here/podman-env.sh"

BASE=localhost/gptu-standin/bookworm

# The mirror apt uses here (deb822 sources first, then sources.list).
mirror() {
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# What this machine adds for HTTPS and pip: its extra CA certificates (an intercepting proxy
# needs them inside builds too) and pip's settings (their local paths are mounted in builds).
machine_files() {
  local out=$1
  mkdir -p "$out/certs"
  cp /usr/local/share/ca-certificates/*.crt "$out/certs/" 2>/dev/null || true
  cp "$GPTU_PODMAN_HOME/pip.conf" "$out/pip.conf"  # podman-env.sh wrote it
}

recipe_hash() { (cd "$1" && cat ./* ; printf '%s' "${2:-}") | sha256sum | cut -c1-16; }

have() {  # image exists with this recipe hash
  [ "$(podman image inspect --format '{{index .Labels "gptu.recipe"}}' "$1" 2>/dev/null || true)" = "$2" ]
}

build_base() {
  local work=$GPTU_PODMAN_HOME/base stamp
  rm -rf "$work" && mkdir -p "$work"
  machine_files "$work"
  stamp=$( (cat "$work"/pip.conf "$work"/certs/* 2>/dev/null; mirror) | sha256sum | cut -c1-16)
  if have "$BASE" "$stamp"; then return; fi
  echo "stand-in base: debootstrap bookworm from $(mirror) (about a minute)"
  local started=$SECONDS rootfs=$work/rootfs
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$(mirror)" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/"
    rm -f "$rootfs/etc/apt/sources.list"
  elif [ -s /etc/apt/sources.list ]; then
    cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
  fi
  cp "$work"/certs/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  env TMPDIR=/tmp chroot "$rootfs" update-ca-certificates >/dev/null
  cp "$work/pip.conf" "$rootfs/etc/pip.conf"
  printf 'APT::Install-Recommends "false";\n' > "$rootfs/etc/apt/apt.conf.d/99no-recommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change "LABEL gptu.recipe=$stamp" \
    --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
  echo "stand-in base built in $((SECONDS - started)) s"
}

# The upstream names the project uses: compose's `image:` lines and the Dockerfile's ARG defaults.
upstream() {
  grep -hE '^\s+image:' "$root/docker-compose.yml" | awk '{print $2}' | grep -v '^gptu'
  grep -hE '^ARG (BUILD|RUNTIME)_IMAGE=' "$root/Dockerfile" | cut -d= -f2
}

qualify() {  # docker.io names as podman stores short names
  case $1 in
    */*/*) echo "$1" ;;
    */*) echo "docker.io/$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}

# The CPython this project's venv runs on (built from source, as the official image's is).
host_python() {
  local python=$root/.venv/bin/python
  [ -x "$python" ] || python=$(command -v python3)
  "$python" -c 'import sys; print(sys.base_prefix, "%d.%d.%d" % sys.version_info[:3])'
}

python_context() {  # the tag's version; prints the build context folder
  local context=$GPTU_PODMAN_HOME/context-python prefix version
  read -r prefix version <<<"$(host_python)"
  case $version in
    "${1%%-*}".*) ;;
    *) echo "the Dockerfile wants Python ${1%%-*}; this machine's is $version ($prefix)" >&2; exit 1 ;;
  esac
  rm -rf "$context" && mkdir -p "$context"
  cp "$here/standins/python/Containerfile" "$context/"
  # The interpreter, its standard library and headers; not its site-packages or tests.
  (cd "$prefix" && tar -cf "$context/python.tar" --exclude='__pycache__' \
    --exclude="lib/python${1%%-*}/site-packages/*" --exclude="lib/python${1%%-*}/test" \
    bin/python3 "bin/python${1%%-*}" lib/libpython3* "lib/python${1%%-*}" include) \
    || { echo "could not pack the Python in $prefix" >&2; exit 1; }
  echo "$version" > "$context/version"
  echo "$context"
}

build_standin() {  # kind, upstream name
  local kind=$1 name tag hash started context
  name=$(qualify "$2") tag=${2##*:}
  local args=(--build-arg "BASE=$BASE") context=$here/standins/$kind
  case $kind in
    python) context=$(python_context "$tag") || exit 1 ;;
    chroma)
      cp "$root/requirements.lock" "$here/standins/chroma/constraints.txt"
      args+=(--build-arg "PYTHON=$PYTHON_IMAGE" --build-arg "CHROMA_VERSION=$tag") ;;
  esac
  hash=$(recipe_hash "$context" "$tag $(podman image inspect --format '{{.Id}}' "$BASE")")
  if have "$name" "$hash"; then return; fi
  echo "stand-in $name ($kind)"
  started=$SECONDS
  # shellcheck disable=SC2086
  podman build --label "gptu.recipe=$hash" "${args[@]}" $GPTU_BUILD_VOLUMES -t "$name" "$context" \
    >"$GPTU_PODMAN_HOME/standin-$kind.log" 2>&1 || { tail -30 "$GPTU_PODMAN_HOME/standin-$kind.log"; exit 1; }
  echo "stand-in $name built in $((SECONDS - started)) s"
}

build_base
PYTHON_IMAGE=""
for image in $(upstream | sort -u); do
  case ${image%%:*} in
    python) build_standin python "$image"; PYTHON_IMAGE=$(qualify "$image") ;;
  esac
done
[ -n "$PYTHON_IMAGE" ] || { echo "no python image named in the Dockerfile" >&2; exit 1; }
for image in $(upstream | sort -u); do
  case ${image%%:*} in
    python) ;;
    redis) build_standin redis "$image" ;;
    postgres) build_standin postgres "$image" ;;
    chromadb/chroma) build_standin chroma "$image" ;;
    *) echo "no stand-in recipe for $image: add one under scripts/compose/standins" >&2; exit 1 ;;
  esac
done
rm -f "$here/standins/chroma/constraints.txt"
