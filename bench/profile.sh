#!/usr/bin/env bash
# Instructions per request, counted by callgrind (deterministic, unlike wall-clock figures on a
# shared machine), for the engine's HTTP client (src/engine/http/) against the reference API on
# 127.0.0.1: `http://127.0.0.1:PORT/health`, one GET per iteration. (Until the engine's client
# took every request, a URL with credentials went through reqwest; docs/performance.md keeps
# that comparison, measured then.)
#
# The plan runs twice (N and 2N iterations of one VU, one GET each) under
# `valgrind --tool=callgrind`; the difference divided by N is the cost of one request, start-up
# and reports excluded: for the whole process (`whole`), and for the VUs' own path alone (`vu`,
# the figure to compare two builds by: see below). Then the top functions of the 2N run, per
# request.
#
#   bench/profile.sh              # N = 5000
#   N=20000 bench/profile.sh
#
# Needs valgrind (apt-get install -y valgrind). Builds a release binary with symbols in
# target/profiling, or $PROFILE_TARGET_DIR (the shipped one is stripped); KAIZEN_BIN=path profiles
# that binary instead (built with CARGO_PROFILE_RELEASE_STRIP=false). Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-5000}"
TOP="${TOP:-25}"
command -v valgrind >/dev/null || { echo "missing: valgrind (apt-get install -y valgrind)" >&2; exit 1; }

if [ -n "${KAIZEN_BIN:-}" ]; then
    BIN="$KAIZEN_BIN"                 # a binary built elsewhere (another commit, say), unstripped
else
    PROFILE_TARGET_DIR="${PROFILE_TARGET_DIR:-target/profiling}"
    CARGO_TARGET_DIR="$PROFILE_TARGET_DIR" CARGO_PROFILE_RELEASE_STRIP=false \
        CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --quiet
    BIN="$PROFILE_TARGET_DIR/release/kaizen-loadtest"
fi

. bench/fixture.sh
start_work_and_fixture

plan() { # iterations
    cat >"$WORK/http1-$1.yaml" <<YAML
version: 1
name: profile
environments:
  local: { base_url: "$BASE_URL" }
requests:
  get: { get: "$BASE_URL/health" }
scenarios:
  once:
    executor: per-vu-iterations
    vus: 1
    iterations: $1
    max_duration: 10m
    flow: [get]
YAML
}

ir() { # callgrind.out -> total instructions
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

printf '%-8s %14s %14s %14s\n' path "Ir ($N)" "Ir ($((2 * N)))" "Ir/request"
# `whole`: every instruction of the process. `vu`: only those inside the VUs' iterations (the
# polls of `guarded_with`: rendering, sending, reading, checking and recording a request), which
# leaves out the runtime's scheduler and I/O driver and the collector's thread. The collector's
# work grows with the run's wall time, which valgrind stretches by however busy the machine is;
# the `vu` figure does not move with it, so it is the one to compare two builds by.
for n in "$N" "$((2 * N))"; do
    plan "$n"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/http1-$n.out" \
        "$BIN" run --plan "$WORK/http1-$n.yaml" --quiet --format json \
        --out-dir "$WORK/out-http1-$n" >/dev/null 2>"$WORK/http1-$n.err" || true
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*guarded_with*' \
        --callgrind-out-file="$WORK/vu-$n.out" \
        "$BIN" run --plan "$WORK/http1-$n.yaml" --quiet --format json \
        --out-dir "$WORK/out-vu-$n" >/dev/null 2>"$WORK/vu-$n.err" || true
done
a=$(ir "$WORK/http1-$N.out")
b=$(ir "$WORK/http1-$((2 * N)).out")
printf '%-8s %14s %14s %14s\n' whole "$a" "$b" "$(( (b - a) / N ))"
a=$(ir "$WORK/vu-$N.out")
b=$(ir "$WORK/vu-$((2 * N)).out")
printf '%-8s %14s %14s %14s\n' vu "$a" "$b" "$(( (b - a) / N ))"

# Per function: self instructions of the 2N run minus the N run, divided by N.
echo
echo "== http1: top $TOP functions by self instructions per request (2N run minus N run, / N)"
python3 - "$WORK/http1-$N.out" "$WORK/http1-$((2 * N)).out" "$N" "$TOP" <<'PY'
import collections, re, subprocess, sys

def self_cost(path):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--tree=none", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    cost, started = collections.Counter(), False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line) if started else None
        if m:
            fn = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2))
            cost[fn.split(":", 1)[1] if ":" in fn else fn] += int(m.group(1).replace(",", ""))
    return cost

a, b = self_cost(sys.argv[1]), self_cost(sys.argv[2])
n, top = int(sys.argv[3]), int(sys.argv[4])
per = {k: (b[k] - a.get(k, 0)) / n for k in b}
total = sum(per.values())
for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:top]:
    print(f"{v:8.0f} {100 * v / total:5.1f}%  {k[:100]}")
print(f"{total:8.0f} 100.0%  (all functions)")
PY
