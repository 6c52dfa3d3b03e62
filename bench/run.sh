#!/usr/bin/env bash
# Load-generator benchmark: targets pinned to CPU $SERVER_CPU, each generator pinned to CPU $GEN_CPU.
#
#   bench/run.sh                       # all scenarios: throughput spike latency startup
#   bench/run.sh throughput latency    # a subset
#   TOOLS="wrk k6 project" REPS=1 bench/run.sh throughput   # project = target/release/kaizen-loadtest
#
# Everything is sent to 127.0.0.1 only. Every process this script starts is stopped by its PID
# on exit (also on Ctrl-C). See bench/README.md for the knobs and what each figure means.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVER_CPU="${SERVER_CPU:-0}"
export GEN_CPU="${GEN_CPU:-1}"
export DELAY_MS="${DELAY_MS:-20}"
OUT_DIR="${OUT_DIR:-/tmp/bench-results/$(date +%Y%m%d-%H%M%S)}"
NGINX_PREFIX=/tmp/bench-nginx
DELAY_DIR=/tmp/bench-delay
export NGINX_PID_FILE="$NGINX_PREFIX/nginx.pid"
export DELAY_PID_FILE="$DELAY_DIR/delay.pid"
NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
PYTHON="${PYTHON:-python3}"

for tool in taskset /usr/bin/time "$NGINX_BIN" curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool (apt-get install -y nginx wrk hyperfine time curl)" >&2; exit 1; }
done

nginx_master=""
delay_pid=""
harness_pid=""
# alive PID: exists and is not a zombie (a daemonised nginx master is re-parented and may linger as one)
alive() { [[ -r "/proc/$1/stat" ]] && [[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]]; }
cleanup() {
  set +e
  if [[ -n "$harness_pid" ]] && kill -0 "$harness_pid" 2>/dev/null; then
    kill -TERM "$harness_pid"                         # it stops its running generator, then exits
    wait "$harness_pid" 2>/dev/null
  fi
  if [[ -n "$nginx_master" ]] && alive "$nginx_master"; then
    kill -QUIT "$nginx_master"                        # graceful stop of master + its worker
    for _ in $(seq 50); do alive "$nginx_master" || break; sleep 0.1; done
    alive "$nginx_master" && kill -TERM "$nginx_master"
  fi
  if [[ -n "$delay_pid" ]] && alive "$delay_pid"; then
    kill -TERM "$delay_pid"
    for _ in $(seq 50); do alive "$delay_pid" || break; sleep 0.1; done
    alive "$delay_pid" && kill -KILL "$delay_pid"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 18080 18081; do
  if port_busy "$port"; then echo "127.0.0.1:$port is already in use: stop that server first" >&2; exit 1; fi
done

# --- target 1: nginx, one worker, pinned to SERVER_CPU -------------------------------------
mkdir -p "$NGINX_PREFIX" "$DELAY_DIR" "$OUT_DIR"
taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$NGINX_PREFIX/" -e "$NGINX_PREFIX/error.log" \
  -c "$BENCH_DIR/target/nginx.conf"
for _ in $(seq 50); do [[ -s "$NGINX_PID_FILE" ]] && break; sleep 0.1; done
nginx_master="$(cat "$NGINX_PID_FILE")"

# --- target 2: fixed-delay server (Python stdlib), pinned to SERVER_CPU -----------------------
taskset -c "$SERVER_CPU" "$PYTHON" "$BENCH_DIR/target/delay_server.py" --port 18081 \
  --delay-ms "$DELAY_MS" --pid-file "$DELAY_PID_FILE" >"$DELAY_DIR/delay.log" 2>&1 &
delay_pid=$!

for _ in $(seq 100); do
  curl -fsS -o /dev/null http://127.0.0.1:18080/health 2>/dev/null \
    && curl -fsS -o /dev/null http://127.0.0.1:18081/health 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null http://127.0.0.1:18080/health && curl -fsS -o /dev/null http://127.0.0.1:18081/health \
  || { echo "targets did not come up (see $NGINX_PREFIX/error.log, $DELAY_DIR/delay.log)" >&2; exit 1; }
echo "targets: nginx master $nginx_master (127.0.0.1:18080), delay server $delay_pid (127.0.0.1:18081, ${DELAY_MS} ms), CPU $SERVER_CPU; generators on CPU $GEN_CPU"
echo "results: $OUT_DIR"

# In the background + wait, so that INT/TERM reach the trap at once (bash defers traps while a
# foreground command runs); cleanup() then stops the harness, which stops its generator.
"$PYTHON" "$BENCH_DIR/harness.py" --out "$OUT_DIR" "$@" > >(tee "$OUT_DIR/report.txt") 2>&1 &
harness_pid=$!
rc=0
wait "$harness_pid" || rc=$?
harness_pid=""
exit "$rc"
