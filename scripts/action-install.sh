#!/usr/bin/env bash
# The Action's install steps (action.yml): which kaizen-loadtest runs, and putting it on the PATH.
#
#   action-install.sh          resolve the version, then take the binary from the runner's tool
#                              cache, or download and check it (scripts/install.sh); without a
#                              matching release, ask for a build from source (outputs source=true,
#                              target-dir, cache-key for the cache step)
#   action-install.sh build    the build from source (cargo), after the cache step
#
# The version: the `version` input; else the ref the Action was referenced at. A tag vX.Y.Z is that
# release; a moving tag (v1, v1.2) is the release of the commit it points at, which is the version
# in that commit's Cargo.toml (the release workflow refuses a tag that differs from it); a commit
# SHA is the release tagged at that commit, if GitHub says one is. A branch, a fork without
# releases, an unreleased commit or a local `uses: ./` build from source.
#
# Reads RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, RUNNER_TOOL_CACHE, GITHUB_SERVER_URL, GITHUB_API_URL,
# and from action.yml INPUT_VERSION, ACTION_PATH, ACTION_REF, ACTION_REPOSITORY, RESOLVE_TOKEN.
# KAIZEN_LOADTEST_RELEASE_URL replaces the download base (a mirror); KAIZEN_LOADTEST_PREBUILT is
# a binary built earlier in the job that stands in for the cargo build (the self-test, the tests).
set -euo pipefail

error() {
    echo "::error title=kaizen-loadtest::$1"
    exit 1
}
output() { echo "$1=$2" >>"$GITHUB_OUTPUT"; }

exe=""
if [ "${RUNNER_OS:-}" = Windows ]; then exe=".exe"; fi
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kaizen-loadtest"

# Puts the binary in DIR on the PATH of the later steps.
use_binary() {
    "$1/kaizen-loadtest$exe" --version
    output bin "$1/kaizen-loadtest$exe"
    echo "$1" >>"$GITHUB_PATH"
}

if [ "${1:-}" = build ]; then
    dest="$work/source-bin"
    mkdir -p "$dest"
    if [ -n "${KAIZEN_LOADTEST_PREBUILT:-}" ]; then
        echo "using the binary at KAIZEN_LOADTEST_PREBUILT instead of a cargo build"
        cp "$KAIZEN_LOADTEST_PREBUILT" "$dest/kaizen-loadtest$exe"
    else
        cargo build --release --locked --manifest-path "$ACTION_PATH/Cargo.toml" --target-dir "$TARGET_DIR"
        cp "$TARGET_DIR/release/kaizen-loadtest$exe" "$dest/"
    fi
    chmod +x "$dest/kaizen-loadtest$exe"
    use_binary "$dest"
    exit 0
fi

# Asks the next steps to build from source, saying why.
from_source() {
    echo "::notice title=kaizen-loadtest::building from source: $1"
    if [ -z "${KAIZEN_LOADTEST_PREBUILT:-}" ] && ! command -v cargo >/dev/null 2>&1; then
        error "$1, so kaizen-loadtest must be built from source, and this runner has no Rust toolchain. Reference the Action at a release (uses: kaizen/loadtest-action@v1), set version: to a release, or add dtolnay/rust-toolchain@stable before this step"
    fi
    local toolchain lock
    toolchain="$( (rustc -V 2>/dev/null || echo prebuilt) | tr -cs 'A-Za-z0-9.' '-')"
    lock="$( (sha256sum "$ACTION_PATH/Cargo.lock" 2>/dev/null || shasum -a 256 "$ACTION_PATH/Cargo.lock") | cut -c1-16)"
    output source true
    output target-dir "$ACTION_PATH/target"
    output cache-key "kaizen-loadtest-${RUNNER_OS:-os}-${RUNNER_ARCH:-arch}-$toolchain-$lock"
    exit 0
}

# The Action's own repository and ref. `github.action_ref` is not promised inside a composite
# action: the runner's checkout directory, _actions/OWNER/REPO/REF, says the same.
repo="${ACTION_REPOSITORY:-}"
ref="${ACTION_REF:-}"
case "$ACTION_PATH" in
    */_actions/*/*/*)
        rest="${ACTION_PATH##*/_actions/}"
        owner="${rest%%/*}"
        rest="${rest#*/}"
        if [ -z "$repo" ]; then repo="$owner/${rest%%/*}"; fi
        if [ -z "$ref" ]; then ref="${rest#*/}"; fi
        ;;
esac
cargo_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ACTION_PATH/Cargo.toml" | head -n 1)"

want="${INPUT_VERSION:-}"
want="${want#v}"
version=""
pinned=false
if [ "$want" = source ]; then
    from_source "version: source"
elif [ -n "$want" ]; then
    version="$want"
    pinned=true
elif [[ "$ref" =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]]; then
    version="${ref#v}"
elif [[ "$ref" =~ ^v[0-9]+(\.[0-9]+)?$ ]]; then
    # A moving tag: the release workflow points it at the commit of a release.
    case "$cargo_version" in
        "${ref#v}".*) version="$cargo_version" ;;
        *) from_source "the tag $ref points at a commit whose Cargo.toml says $cargo_version, not a ${ref#v}.x release" ;;
    esac
elif [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
    api="${GITHUB_API_URL:-https://api.github.com}"
    auth=()
    if [ -n "${RESOLVE_TOKEN:-}" ]; then auth=(-H "Authorization: Bearer $RESOLVE_TOKEN"); fi
    tagged="$(curl -sS --retry 2 -H "Accept: application/vnd.github.sha" ${auth[@]+"${auth[@]}"} \
        "$api/repos/$repo/commits/v$cargo_version" 2>/dev/null || true)"
    if [ "$tagged" = "$ref" ]; then
        version="$cargo_version"
    else
        from_source "no release is tagged at $ref (v$cargo_version is not this commit)"
    fi
elif [ -z "$ref" ]; then
    from_source "the Action was not referenced at a release (a local uses: ./)"
else
    from_source "$ref is not a release tag (a branch or another ref)"
fi

case "${RUNNER_OS:-}-${RUNNER_ARCH:-}" in
    Linux-X64) target=x86_64-unknown-linux-musl ;;
    Linux-ARM64) target=aarch64-unknown-linux-musl ;;
    macOS-X64) target=x86_64-apple-darwin ;;
    macOS-ARM64) target=aarch64-apple-darwin ;;
    Windows-X64) target=x86_64-pc-windows-msvc ;;
    *)
        if [ "$pinned" = true ]; then
            error "no release build for ${RUNNER_OS:-?} ${RUNNER_ARCH:-?}: set version: source to build from source"
        fi
        from_source "no release build for ${RUNNER_OS:-?} ${RUNNER_ARCH:-?}"
        ;;
esac

# The runner's tool cache, laid out as actions/tool-cache does (NAME/VERSION/ARCH and a
# .complete marker), so that a second job on the same runner downloads nothing.
arch="$(echo "${RUNNER_ARCH:-x64}" | tr '[:upper:]' '[:lower:]')"
if [ -n "${RUNNER_TOOL_CACHE:-}" ]; then
    dir="$RUNNER_TOOL_CACHE/kaizen-loadtest/$version/$arch"
else
    dir="$work/bin"
fi
if [ -f "$dir.complete" ] && [ -x "$dir/kaizen-loadtest$exe" ]; then
    echo "kaizen-loadtest $version from the tool cache ($dir)"
    use_binary "$dir"
    exit 0
fi

if [ -n "${KAIZEN_LOADTEST_RELEASE_URL:-}" ]; then
    base="$KAIZEN_LOADTEST_RELEASE_URL"
elif [ -n "$repo" ]; then
    base="${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download"
else
    from_source "the Action's repository is unknown, so there is no release to download"
fi
rm -rf "$dir" "$dir.complete"
rc=0
sh "$ACTION_PATH/scripts/install.sh" --version "$version" --target "$target" --base "$base" --to "$dir" || rc=$?
case "$rc" in
    0) ;;
    3)
        if [ "$pinned" = true ]; then
            error "there is no release $version of $repo (version: $version); set version: to a release, or to source"
        fi
        from_source "$repo has no release v$version (a fork, or a release still being built)"
        ;;
    *) exit 1 ;; # install.sh said why, as an ::error
esac
touch "$dir.complete"
use_binary "$dir"
