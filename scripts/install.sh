#!/bin/sh
# Installs a kaizen-loadtest release binary, checked against the release's SHA256SUMS.
#
#   sh install.sh --version 1.2.3 [--to DIR] [--target TRIPLE] [--base URL]
#
# It downloads BASE/vVERSION/SHA256SUMS and BASE/vVERSION/kaizen-loadtest-VERSION-TARGET.tar.gz
# (.zip on Windows), refuses the archive unless SHA256SUMS lists it with the same sha256, unpacks
# the binary into DIR and checks that it reports VERSION. BASE defaults to the project's GitHub
# releases (KAIZEN_LOADTEST_RELEASE_URL overrides it, for a mirror); TARGET to this machine's.
#
# POSIX sh with curl or wget, sha256sum or shasum, and tar (unzip on Windows): it runs in the
# Action on every runner, in a GitLab job's before_script (Alpine's busybox) and on a laptop.
#
# Exit codes: 0 installed; 3 there is no such release (SHA256SUMS answered 404), which the Action
# reads as "build from source"; 1 anything else, said on stderr (an ::error annotation inside
# GitHub Actions) with the URL that failed and what to do.
set -eu

version="${KAIZEN_LOADTEST_VERSION:-}"
to="${KAIZEN_LOADTEST_INSTALL_DIR:-}"
target=""
base="${KAIZEN_LOADTEST_RELEASE_URL:-https://github.com/kaizen/loadtest-action/releases/download}"

say() { echo "kaizen-loadtest install: $*" >&2; }
die() { # MESSAGE [CODE]
    if [ "${2:-1}" = 3 ]; then
        # Not an annotation: the Action may build from source instead.
        echo "kaizen-loadtest install: $1" >&2
    elif [ "${GITHUB_ACTIONS:-}" = true ]; then
        # One line: a workflow command ends at the line break.
        echo "::error title=kaizen-loadtest install::$1"
    else
        echo "kaizen-loadtest install: error: $1" >&2
    fi
    exit "${2:-1}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --version) version="${2:-}"; shift 2 ;;
        --to) to="${2:-}"; shift 2 ;;
        --target) target="${2:-}"; shift 2 ;;
        --base) base="${2:-}"; shift 2 ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
version="${version#v}"
base="${base%/}"
[ -n "$version" ] || die "no version: give --version X.Y.Z (the releases are listed on the project's GitHub releases page)"
case "$version" in
    *[!0-9A-Za-z.+-]*) die "\"$version\" is not a version (X.Y.Z)" ;;
esac

if [ -z "$target" ]; then
    os="$(uname -s)"
    arch="$(uname -m)"
    case "$os-$arch" in
        Linux-x86_64 | Linux-amd64) target=x86_64-unknown-linux-musl ;;
        Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
        Darwin-x86_64) target=x86_64-apple-darwin ;;
        Darwin-arm64 | Darwin-aarch64) target=aarch64-apple-darwin ;;
        MINGW*-x86_64 | MSYS*-x86_64 | CYGWIN*-x86_64) target=x86_64-pc-windows-msvc ;;
        *) die "no release build for $os $arch: build from source with cargo (docs/ci.md)" ;;
    esac
fi
exe=""
archive="kaizen-loadtest-$version-$target.tar.gz"
case "$target" in
    *windows*) exe=".exe"; archive="kaizen-loadtest-$version-$target.zip" ;;
esac
if [ -z "$to" ]; then
    if [ -w /usr/local/bin ]; then to=/usr/local/bin; else to="$HOME/.local/bin"; fi
fi

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t kaizen-loadtest)"
trap 'rm -rf "$tmp"' EXIT INT TERM

# fetch URL FILE: 0, or 4 when the server answered 404, or 1 with the reason in $tmp/why.
fetch() {
    if command -v curl >/dev/null 2>&1; then
        proto="=https,http"
        case "$1" in https://*) proto="=https" ;; esac
        if ! code="$(curl -sSL --retry 3 --connect-timeout 20 --proto-redir "$proto" \
            -o "$2" -w '%{http_code}' "$1" 2>"$tmp/why")"; then
            return 1
        fi
        case "$code" in
            200) return 0 ;;
            404) return 4 ;;
            *) echo "HTTP $code" >"$tmp/why"; return 1 ;;
        esac
    elif command -v wget >/dev/null 2>&1; then
        if wget -q -S -O "$2" "$1" 2>"$tmp/why"; then return 0; fi
        if grep -q 'HTTP/[0-9.]* 404' "$tmp/why"; then return 4; fi
        return 1
    else
        die "neither curl nor wget is installed: install one of them (apk add curl, apt-get install curl)"
    fi
}

why() { tr '\n' ' ' <"$tmp/why" | sed 's/ *$//'; }

sums_url="$base/v$version/SHA256SUMS"
say "kaizen-loadtest $version for $target from $base/v$version/"
rc=0
fetch "$sums_url" "$tmp/SHA256SUMS" || rc=$?
case "$rc" in
    0) ;;
    4) die "no release v$version: $sums_url answered 404. Check the version (releases are tagged vX.Y.Z), or build from source with cargo" 3 ;;
    *) die "cannot download $sums_url ($(why)). Check the runner's network or proxy, or set KAIZEN_LOADTEST_RELEASE_URL to a mirror" ;;
esac

expected="$(awk -v f="$archive" '$2 == f || $2 == "*" f { print tolower($1); exit }' "$tmp/SHA256SUMS")"
[ -n "$expected" ] || die "SHA256SUMS of v$version lists no $archive: that release has no $target build"

url="$base/v$version/$archive"
rc=0
fetch "$url" "$tmp/$archive" || rc=$?
case "$rc" in
    0) ;;
    4) die "$url answered 404 although SHA256SUMS lists it: the release is incomplete; report it, or pin another version" ;;
    *) die "cannot download $url ($(why)). Check the runner's network or proxy, or set KAIZEN_LOADTEST_RELEASE_URL to a mirror" ;;
esac

if command -v sha256sum >/dev/null 2>&1; then
    actual="$(sha256sum "$tmp/$archive" | cut -d' ' -f1)"
elif command -v shasum >/dev/null 2>&1; then
    actual="$(shasum -a 256 "$tmp/$archive" | cut -d' ' -f1)"
else
    die "neither sha256sum nor shasum is installed: the download cannot be checked"
fi
[ "$actual" = "$expected" ] || die "checksum mismatch for $url: SHA256SUMS says $expected, the download is $actual. Nothing was installed"

mkdir -p "$tmp/x"
case "$archive" in
    *.zip)
        if command -v unzip >/dev/null 2>&1; then
            unzip -q -o "$tmp/$archive" -d "$tmp/x"
        elif command -v 7z >/dev/null 2>&1; then
            7z x -y -o"$tmp/x" "$tmp/$archive" >/dev/null
        else
            die "cannot unpack $archive: install unzip"
        fi
        ;;
    *) tar -xzf "$tmp/$archive" -C "$tmp/x" ;;
esac
found="$(find "$tmp/x" -type f -name "kaizen-loadtest$exe" | head -n 1)"
[ -n "$found" ] || die "$archive holds no kaizen-loadtest$exe"
chmod +x "$found"
reported="$("$found" --version 2>&1 || true)"
[ "$reported" = "kaizen-loadtest $version" ] || die "the binary in $archive reports \"$reported\", not kaizen-loadtest $version"

mkdir -p "$to"
cp "$found" "$to/kaizen-loadtest$exe.tmp"
mv -f "$to/kaizen-loadtest$exe.tmp" "$to/kaizen-loadtest$exe"
say "installed $to/kaizen-loadtest$exe (sha256 of $archive checked against SHA256SUMS)"
