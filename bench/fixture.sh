# Sourced by bench/soak-memory.sh and bench/profile.sh: starts the reference API of "$BIN" on
# 127.0.0.1:0 in the background and sets FIXTURE_PID and BASE_URL (its log in "$WORK").
# The caller stops it (kill "$FIXTURE_PID") on exit, or calls start_work_and_fixture instead.
start_fixture() {
    "$BIN" serve-fixture --addr 127.0.0.1:0 2>"$WORK/fixture.log" &
    FIXTURE_PID=$!
    for _ in $(seq 50); do
        grep -q "listening on" "$WORK/fixture.log" 2>/dev/null && break
        sleep 0.1
    done
    BASE_URL="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/fixture.log" | head -1)"
    [ -n "$BASE_URL" ] || { echo "serve-fixture did not start" >&2; cat "$WORK/fixture.log" >&2; exit 1; }
}

# A fresh "$WORK" and the reference API in it; on exit, stops the load run ("$RUN_PID", when the
# caller sets it) and the API, and removes "$WORK" (kept, and named, with KEEP=1).
start_work_and_fixture() {
    WORK="$(mktemp -d)"
    FIXTURE_PID=""
    RUN_PID=""
    trap cleanup_work EXIT
    start_fixture
}

cleanup_work() {
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null || true
    [ -n "$FIXTURE_PID" ] && kill "$FIXTURE_PID" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
