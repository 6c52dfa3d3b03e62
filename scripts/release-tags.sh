#!/usr/bin/env bash
# Moves the major and minor tags (v1, v1.2) to a release that was just published, so that
# `uses: kaizen/loadtest-action@v1` runs it:
#
#   release-tags.sh vX.Y.Z COMMIT [REMOTE]
#
# Only a stable release moves them, and only forward: vX moves when X.Y.Z is the highest stable
# release of X, vX.Y when it is the highest of X.Y, so that a patch of an older line (1.1.5 after
# 1.2.0) moves v1.1 and leaves v1 alone. The existing tags are read from REMOTE (default origin).
set -euo pipefail

tag="${1:?usage: release-tags.sh vX.Y.Z COMMIT [REMOTE]}"
commit="${2:?usage: release-tags.sh vX.Y.Z COMMIT [REMOTE]}"
remote="${3:-origin}"
if [[ ! "$tag" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)(-.*)?$ ]]; then
    echo "error: $tag is not a release tag" >&2
    exit 1
fi
major="${BASH_REMATCH[1]}"
minor="${BASH_REMATCH[2]}"
if [ -n "${BASH_REMATCH[4]}" ]; then
    echo "$tag is a pre-release: v$major and v$major.$minor stay where they are"
    exit 0
fi
releases="$(git ls-remote --tags --refs "$remote" 'v*' | sed 's|.*refs/tags/||' \
    | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' || true)"
highest() { { echo "$releases"; echo "$tag"; } | grep -E "^$1" | sort -V | tail -n 1; }
refspecs=()
if [ "$(highest "v$major\\.")" = "$tag" ]; then
    refspecs+=("$commit:refs/tags/v$major")
else
    echo "v$major stays: $(highest "v$major\\.") is newer than $tag"
fi
if [ "$(highest "v$major\\.$minor\\.")" = "$tag" ]; then
    refspecs+=("$commit:refs/tags/v$major.$minor")
else
    echo "v$major.$minor stays: $(highest "v$major\\.$minor\\.") is newer than $tag"
fi
if [ "${#refspecs[@]}" -gt 0 ]; then
    git push --force "$remote" "${refspecs[@]}"
    printf 'moved %s to %s\n' "${refspecs[*]}" "$commit"
fi
