#!/usr/bin/env bash
# Makes a Docker engine and the debian:bookworm-slim base image available on
# a machine with Debian's packages but no registry: installs docker.io and
# docker-compose when missing, starts dockerd when none answers, and builds
# the base image with debootstrap when it is absent. Idempotent.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { printf '[docker-env] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    say "starting dockerd"
    as_root mkdir -p /var/log
    as_root sh -c 'nohup dockerd >/var/log/shopmq-dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        say "ERROR: the Docker engine did not start; last lines of its log:"
        as_root tail -n 20 /var/log/shopmq-dockerd.log >&2 || true
        exit 1
    fi
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "building $BASE_IMAGE with debootstrap (no registry here)"
    root=$(mktemp -d /tmp/shopmq-rootfs.XXXXXX)
    trap 'as_root rm -rf "$root"' EXIT
    as_root debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
    # Keep the image small, like the official slim image.
    as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    as_root tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
    say "built $BASE_IMAGE"
fi
