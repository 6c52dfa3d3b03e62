#!/usr/bin/env bash
# Builds the container image from the Dockerfile (a musl build from source, then Alpine) with
# docker, podman or buildah, whichever works here, and runs `kaizen-loadtest --version` in it.
#
#   scripts/build-image.sh [TAG]          (default kaizen-loadtest:dev)
#
# It pulls the base images (rust:*-alpine, alpine) from Docker Hub, so it needs that registry;
# the build itself takes minutes (a release build of the whole dependency tree). The test suite
# does not run it: it lints the Dockerfile with hadolint instead (docs/ci.md).
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-kaizen-loadtest:dev}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" -t "$tag" .)

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    docker build "${args[@]}"
    got="$(docker run --rm "$tag" --version)"
elif command -v podman >/dev/null 2>&1; then
    podman build "${args[@]}"
    got="$(podman run --rm "$tag" --version)"
elif command -v buildah >/dev/null 2>&1; then
    # Without a daemon or user namespaces: chroot isolation and the vfs driver.
    buildah --storage-driver vfs bud --isolation chroot "${args[@]}"
    c="$(buildah --storage-driver vfs from "$tag")"
    trap 'buildah --storage-driver vfs rm "$c" >/dev/null' EXIT
    got="$(buildah --storage-driver vfs run --isolation chroot "$c" kaizen-loadtest --version)"
else
    echo "error: none of docker (with a running daemon), podman or buildah is installed" >&2
    exit 1
fi
echo "$got"
test "$got" = "kaizen-loadtest $version"
echo "built $tag (kaizen-loadtest $version)"
