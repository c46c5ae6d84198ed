#!/usr/bin/env bash
# Sourced by scripts/compose/*.sh: rootful podman kept under one folder ($GPTU_PODMAN_HOME,
# default ~/.cache/gptu/podman: images, containers, volumes, networks, its own settings), so
# nothing else on the machine changes and the stand-in images and build layers are reused.
# Installs podman and friends with apt-get when they are missing (as root).
set -euo pipefail

GPTU_PODMAN_HOME=${GPTU_PODMAN_HOME:-$HOME/.cache/gptu/podman}
export GPTU_PODMAN_HOME

need_packages() {
  local missing=()
  for tool in podman buildah debootstrap runc netavark:/usr/lib/podman/netavark \
    aardvark-dns:/usr/lib/podman/aardvark-dns fuse-overlayfs slirp4netns newuidmap:uidmap \
    iptables:/usr/sbin/iptables; do
    local name=${tool%%:*} where=${tool#*:}
    [ "$where" = "$tool" ] && where=$name
    case $where in
      /*) [ -x "$where" ] || missing+=("$name") ;;
      uidmap) command -v newuidmap >/dev/null || missing+=(uidmap) ;;
      *) command -v "$where" >/dev/null || missing+=("$name") ;;
    esac
  done
  printf '%s\n' "${missing[@]}"
}

missing=$(need_packages)
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-compose needs rootful podman: as root, apt-get install podman buildah debootstrap" \
      "fuse-overlayfs slirp4netns uidmap runc netavark aardvark-dns iptables" >&2
    exit 1
  fi
  echo "installing podman and its tools with apt-get (once)"
  export DEBIAN_FRONTEND=noninteractive
  packages="podman buildah debootstrap fuse-overlayfs slirp4netns uidmap runc netavark aardvark-dns iptables"
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $packages >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $packages >/dev/null; }
fi
[ "$(id -u)" = 0 ] || { echo "test-compose runs rootful podman: run it as root" >&2; exit 1; }

mkdir -p "$GPTU_PODMAN_HOME"/{storage,run,networks,tmp}
# runc: crun refuses this mixed cgroup v1/v2 host; no systemd, so cgroupfs and a file event
# log; netavark only (a leftover CNI bridge breaks DNS in builds); podman's default nofile
# limit is refused here.
cat > "$GPTU_PODMAN_HOME/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$GPTU_PODMAN_HOME/events.log"
tmp_dir = "$GPTU_PODMAN_HOME/tmp"

[network]
network_backend = "netavark"
network_config_dir = "$GPTU_PODMAN_HOME/networks"
CONF
cat > "$GPTU_PODMAN_HOME/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$GPTU_PODMAN_HOME/run"
graphroot = "$GPTU_PODMAN_HOME/storage"
CONF
export CONTAINERS_CONF=$GPTU_PODMAN_HOME/containers.conf
export CONTAINERS_STORAGE_CONF=$GPTU_PODMAN_HOME/storage.conf
export TMPDIR=$GPTU_PODMAN_HOME/tmp
# This machine's pip settings go into the stand-in base (pip.conf); the local indexes and
# folders they name are mounted read-only into every build at the same paths.
GPTU_BUILD_VOLUMES=$(python3 "$(dirname "${BASH_SOURCE[0]}")/pip_settings.py" "$GPTU_PODMAN_HOME/pip.conf")
export GPTU_BUILD_VOLUMES
