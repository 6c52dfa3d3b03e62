#!/usr/bin/env bash
# The release workflow's first step: is the pushed tag a release this commit can make?
#
#   release-check.sh vX.Y.Z[-PRE]
#
# The tag must equal Cargo.toml's version (so that the Action referenced at any tag of this
# commit, even a moving v1, resolves the right release), and every image this commit ships a
# reference to (the GitLab template and component, the examples, the Kubernetes manifests) must
# pin that version. Writes version, prerelease and image-tags to $GITHUB_OUTPUT when set, and
# prints them. Exit 1 with what to fix otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:?usage: release-check.sh vX.Y.Z}"
if [[ ! "$tag" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "error: $tag is not a release tag (vX.Y.Z or vX.Y.Z-PRE)" >&2
    exit 1
fi
major="${BASH_REMATCH[1]}"
minor="${BASH_REMATCH[2]}"
pre="${BASH_REMATCH[4]}"
version="${tag#v}"
cargo_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
if [ "$cargo_version" != "$version" ]; then
    echo "error: the tag $tag is not the version in Cargo.toml ($cargo_version): bump Cargo.toml, the image pins and Cargo.lock in a commit, then tag that commit" >&2
    exit 1
fi
stale="$(grep -rnoE 'ghcr\.io/kaizen/kaizen-loadtest:[^" ]+' templates examples deploy \
    | grep -v ":ghcr.io/kaizen/kaizen-loadtest:$version\$" || true)"
if [ -n "$stale" ]; then
    echo "error: these image references do not pin $version:" >&2
    echo "$stale" >&2
    exit 1
fi
prerelease=false
tags="$version"
if [ -n "$pre" ]; then
    prerelease=true
else
    tags="$tags $major.$minor $major latest"
fi
{
    echo "version=$version"
    echo "prerelease=$prerelease"
    echo "image-tags=$tags"
} | tee -a "${GITHUB_OUTPUT:-/dev/null}"
