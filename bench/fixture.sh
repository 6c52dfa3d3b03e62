# Sourced by bench/soak-memory.sh and bench/profile.sh: starts the reference API of "$BIN" on
# 127.0.0.1:0 in the background and sets FIXTURE_PID and BASE_URL (its log in "$WORK").
# The caller stops it (kill "$FIXTURE_PID") on exit.
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
