#!/usr/bin/env python3
"""Load-generator benchmark harness (driven by run.sh, which starts and stops the targets).

Scenarios: throughput, spike, latency, startup. Standard library only.
Every figure is whole-process: the generator runs as
    taskset -c $GEN_CPU /usr/bin/time -v -o FILE <generator ...>
and the request count is read on the SERVER side (nginx stub_status / delay-server /stats), so
the same numbers can be taken for any generator, including the project's own (PROJECT_CMD).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env(name, default):
    v = os.environ.get(name)
    return default if v in (None, "") else v


CFG = {
    "gen_cpu": env("GEN_CPU", "1"),
    "reps": int(env("REPS", "3")),
    "duration": int(env("DURATION", "10")),
    "conns": int(env("CONNS", "50")),
    "spike_vus": [int(x) for x in env("SPIKE_VUS", "1000 5000").split()],
    "spike_duration": int(env("SPIKE_DURATION", "15")),
    "spike_reps": int(env("SPIKE_REPS", "3")),
    "lat_conns": int(env("LAT_CONNS", "10")),
    "lat_duration": int(env("LAT_DURATION", "10")),
    "lat_reps": int(env("LAT_REPS", "3")),
    "delay_ms": float(env("DELAY_MS", "20")),
    "startup_runs": int(env("STARTUP_RUNS", "10")),
    "fast_url": env("FAST_URL", "http://127.0.0.1:18080/health"),
    "nginx_status_url": env("NGINX_STATUS_URL", "http://127.0.0.1:18080/nginx_status"),
    "nginx_pid_file": env("NGINX_PID_FILE", "/tmp/bench-nginx/nginx.pid"),
    "delay_base": env("DELAY_BASE", "http://127.0.0.1:18081"),
    "delay_pid_file": env("DELAY_PID_FILE", "/tmp/bench-delay/delay.pid"),
    "tools": env("TOOLS", "wrk oha k6 locust artillery project").split(),
    "project_name": env("PROJECT_NAME", "project"),
}

# --------------------------------------------------------------------------- the project: kaizen-loadtest
# This copy of the harness lives in the kaizen-loadtest repository, so the project's row is, by
# default, our release binary driven by the plans in bench/plans/ (each the equivalent of the
# anchors' k6 script). Setting any PROJECT_*CMD variable measures that command instead, and then
# no default applies; KAIZEN_BIN points at another build. {raw} is the scenario's raw directory
# (the JSON summaries land in {raw}/kaizen-reports/).
REPO = os.path.dirname(HERE)
PLANS = os.path.join(HERE, "plans")
KAIZEN_BIN = env("KAIZEN_BIN", os.path.join(REPO, "target", "release", "kaizen-loadtest"))
PROJECT_VARS = ("PROJECT_CMD", "PROJECT_SPIKE_CMD", "PROJECT_LAT_CMD", "PROJECT_STARTUP_CMD")
USES_KAIZEN = not any(os.environ.get(k) for k in PROJECT_VARS)


def _kaizen_cmd(plan, extra):
    q = shlex.quote
    return (f"env BENCH_URL={{url}} {q(KAIZEN_BIN)} run --plan {q(os.path.join(PLANS, plan))} "
            f"--quiet --format json --out-dir {{raw}}/kaizen-reports {extra}").strip()


if USES_KAIZEN:
    os.environ["PROJECT_CMD"] = _kaizen_cmd("get.yaml", "--vus {conns} --duration {duration}s --summary-line")
    os.environ["PROJECT_LAT_CMD"] = os.environ["PROJECT_CMD"]
    os.environ["PROJECT_SPIKE_CMD"] = _kaizen_cmd("sleep1.yaml", "--vus {vus} --duration {duration}s --summary-line")
    os.environ["PROJECT_STARTUP_CMD"] = _kaizen_cmd("once.yaml", "")
    CFG["project_name"] = env("PROJECT_NAME", "kaizen-loadtest")


def find_k6():
    """The k6 on PATH may be a pyenv shim (a bash script): resolve the real binary."""
    if os.environ.get("K6_BIN"):
        return os.environ["K6_BIN"]
    p = shutil.which("pyenv")
    if p:
        try:
            r = subprocess.run([p, "which", "k6"], capture_output=True, text=True, timeout=20)
            if r.returncode == 0 and r.stdout.strip():
                return r.stdout.strip()
        except Exception:
            pass
    return shutil.which("k6")


BIN = {
    "wrk": env("WRK_BIN", shutil.which("wrk")),
    "oha": env("OHA_BIN", shutil.which("oha") or (os.path.expanduser("~/.cargo/bin/oha")
                                                  if os.path.exists(os.path.expanduser("~/.cargo/bin/oha")) else None)),
    "k6": find_k6(),
    "locust": env("LOCUST_BIN", shutil.which("locust") or ("/tmp/locust-venv/bin/locust"
                                                           if os.path.exists("/tmp/locust-venv/bin/locust") else None)),
    "artillery": env("ARTILLERY_BIN", shutil.which("artillery")),
}

# No phoning home from any tool: everything here must only talk to loopback.
CHILD_ENV = dict(os.environ, K6_NO_USAGE_REPORT="true", ARTILLERY_DISABLE_TELEMETRY="true",
                 DO_NOT_TRACK="1", NO_COLOR="1")


def require_loopback(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise SystemExit(f"refusing non-loopback target {url!r}")
    return url


for _k in ("fast_url", "nginx_status_url", "delay_base"):
    require_loopback(CFG[_k])


# --------------------------------------------------------------------------- server side

def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def proc_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class Nginx:
    name = "nginx"

    def __init__(self):
        master = read_pid(CFG["nginx_pid_file"])
        kids = []
        if master:
            try:
                with open(f"/proc/{master}/task/{master}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                pass
        self.pid = kids[0] if kids else master      # the (single) worker does the work

    def snapshot(self):
        txt = http_get(CFG["nginx_status_url"])
        m = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)", txt)
        return {"requests": int(m.group(3)), "cpu_s": proc_cpu_s(self.pid), "t": time.monotonic()}

    @staticmethod
    def delta_requests(a, b):
        return b["requests"] - a["requests"] - 1            # the 2nd status request counts itself


class DelayServer:
    name = "delay_server"

    def __init__(self):
        self.pid = read_pid(CFG["delay_pid_file"])

    def reset(self):
        http_get(CFG["delay_base"] + "/stats/reset")

    def snapshot(self):
        st = json.loads(http_get(CFG["delay_base"] + "/stats"))
        return {"requests": st["requests_total"], "cpu_s": proc_cpu_s(self.pid), "t": time.monotonic(),
                "stats": st}

    @staticmethod
    def delta_requests(a, b):
        return b["requests"] - a["requests"] - 1


# --------------------------------------------------------------------------- running one command

def parse_time_v(path):
    out = {}
    try:
        txt = open(path).read()
    except OSError:
        return out
    def grab(label, conv=float):
        m = re.search(re.escape(label) + r":\s*(.+)", txt)
        return conv(m.group(1).strip()) if m else None
    out["user_s"] = grab("User time (seconds)")
    out["sys_s"] = grab("System time (seconds)")
    out["max_rss_kb"] = grab("Maximum resident set size (kbytes)", int)
    out["exit_status"] = grab("Exit status", int)
    out["vol_ctx"] = grab("Voluntary context switches", int)
    out["invol_ctx"] = grab("Involuntary context switches", int)
    wall = grab("Elapsed (wall clock) time", str)
    if wall:
        secs = 0.0
        for part in wall.split(":"):
            secs = secs * 60 + float(part)
        out["wall_s"] = secs
    if out.get("user_s") is not None and out.get("sys_s") is not None:
        out["cpu_s"] = round(out["user_s"] + out["sys_s"], 3)
    return out


def run_measured(label, argv, raw_dir, timeout_s, server, cwd=None, extra_env=None):
    """Run argv pinned to GEN_CPU under /usr/bin/time -v; return whole-process + server figures."""
    os.makedirs(raw_dir, exist_ok=True)
    stem = os.path.join(raw_dir, label)
    timef, outf, errf = stem + ".time", stem + ".out", stem + ".err"
    full = ["taskset", "-c", CFG["gen_cpu"], "/usr/bin/time", "-v", "-o", timef] + argv
    e = dict(CHILD_ENV, **(extra_env or {}))
    s0 = server.snapshot() if server else None
    t0 = time.monotonic()
    with open(outf, "wb") as fo, open(errf, "wb") as fe:
        p = subprocess.Popen(full, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=e, cwd=cwd,
                             start_new_session=True)
        def stop_child():
            os.killpg(p.pid, signal.SIGTERM)     # only the process group this harness created
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        try:
            p.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            stop_child()
            timed_out = True
        except BaseException:                    # Ctrl-C / SIGTERM: the child is in its own session
            stop_child()
            raise
    wall = time.monotonic() - t0
    time.sleep(0.2)   # let the server finish what was in flight before reading its counter
    s1 = server.snapshot() if server else None
    rec = {"label": label, "argv": argv, "rc": p.returncode, "timed_out": timed_out,
           "wall_s": round(wall, 3)}
    tv = parse_time_v(timef)
    rec.update({k: v for k, v in tv.items() if k != "wall_s"})
    if server:
        rec["server_requests"] = server.delta_requests(s0, s1)
        if s0["cpu_s"] is not None and s1["cpu_s"] is not None:
            rec["server_cpu_s"] = round(s1["cpu_s"] - s0["cpu_s"], 3)
            rec["server_cpu_util"] = round(rec["server_cpu_s"] / wall, 3)
        if "stats" in s1:
            rec["server_hold"] = s1["stats"]
    if rec.get("cpu_s") is not None:
        rec["gen_cpu_util"] = round(rec["cpu_s"] / wall, 3)
        if rec.get("server_requests"):
            rec["cpu_us_per_req"] = round(rec["cpu_s"] * 1e6 / rec["server_requests"], 2)
    rec["stdout_file"], rec["stderr_file"] = outf, errf
    return rec


def read(path):
    try:
        return open(path, errors="replace").read()
    except OSError:
        return ""


# --------------------------------------------------------------------------- generators

def gen_cmd(tool, mode, url, conns, duration, raw_dir, label):
    """Return (argv, parse_fn(record) -> client-side dict) for one generator, or None if unavailable.
    mode: 'loop' (closed loop, no think time) or 'sleep1' (each VU: one GET, then 1 s sleep)."""
    b = BIN.get(tool)
    if tool == "wrk":
        if not b or mode != "loop":
            return None
        argv = [b, "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-s",
                os.path.join(SCRIPTS, "wrk_report.lua"), url]
        def parse(rec):
            m = re.search(r"^WRKJSON (\{.*\})$", read(rec["stdout_file"]), re.M)
            if not m:
                return {}
            j = json.loads(m.group(1))
            errs = sum(j[k] for k in j if k.startswith("errors_"))
            return {"client_requests": j["requests"], "client_rps": round(j["requests"] / (j["duration_us"] / 1e6), 1),
                    "errors": errs, "p50_ms": j["p50_us"] / 1000, "p90_ms": j["p90_us"] / 1000,
                    "p95_ms": j["p95_us"] / 1000, "p99_ms": j["p99_us"] / 1000, "max_ms": j["max_us"] / 1000,
                    "mean_ms": round(j["mean_us"] / 1000, 3)}
        return argv, parse
    if tool == "oha":
        if not b:
            return None
        argv = [b, "-z", f"{duration}s", "-w", "-c", str(conns), "--no-tui", "--output-format", "json"]
        if mode == "sleep1":
            argv += ["-q", str(conns)]      # conns connections, conns req/s in all = 1 req/s per connection
        argv.append(url)
        def parse(rec):
            try:
                j = json.loads(read(rec["stdout_file"]))
            except ValueError:
                return {}
            s = j.get("summary", {})
            lp = j.get("latencyPercentiles", {})
            codes = j.get("statusCodeDistribution", {})
            ok = sum(v for k, v in codes.items() if str(k).startswith("2"))
            errs = sum(v for k, v in j.get("errorDistribution", {}).items() if "deadline" not in k)
            sec = lambda v: None if v is None else round(v * 1000, 3)
            return {"client_requests": ok, "client_rps": round(s.get("requestsPerSec", 0), 1),
                    "errors": errs, "p50_ms": sec(lp.get("p50")), "p90_ms": sec(lp.get("p90")),
                    "p95_ms": sec(lp.get("p95")), "p99_ms": sec(lp.get("p99")),
                    "max_ms": sec(s.get("slowest")), "mean_ms": sec(s.get("average"))}
        return argv, parse
    if tool == "k6":
        if not b:
            return None
        script = "k6_get.js" if mode == "loop" else "k6_get_sleep1.js"
        summ = os.path.join(raw_dir, label + ".summary.json")
        argv = [b, "run", "--quiet", "--no-usage-report", "--no-color", "--vus", str(conns),
                "--duration", f"{duration}s", "--summary-export", summ,
                "--summary-trend-stats", "avg,min,med,max,p(90),p(95),p(99)",
                "-e", f"URL={url}", os.path.join(SCRIPTS, script)]
        def parse(rec):
            try:
                j = json.loads(read(summ))
            except ValueError:
                return {}
            m = j.get("metrics", {})
            reqs = m.get("http_reqs", {})
            d = m.get("http_req_duration", {})
            failed = m.get("http_req_failed", {})
            r3 = lambda v: None if v is None else round(v, 3)
            return {"client_requests": reqs.get("count"), "client_rps": round(reqs.get("rate", 0), 1),
                    "errors": failed.get("passes"),   # legacy export: passes = requests that failed
                    "p50_ms": r3(d.get("med")), "p90_ms": r3(d.get("p(90)")), "p95_ms": r3(d.get("p(95)")),
                    "p99_ms": r3(d.get("p(99)")), "max_ms": r3(d.get("max")), "mean_ms": r3(d.get("avg"))}
        return argv, parse
    if tool == "locust":
        if not b:
            return None
        u = urllib.parse.urlsplit(url)
        host = f"{u.scheme}://{u.netloc}"
        cls = "NoWait" if mode == "loop" else "Sleep1"
        argv = [b, "-f", os.path.join(SCRIPTS, "locustfile.py"), cls, "--headless", "-u", str(conns),
                "-r", str(conns), "-t", f"{duration}s", "-H", host, "--only-summary", "--json",
                "--skip-log", "--stop-timeout", "2", "--loglevel", "ERROR"]
        def parse(rec):
            txt = read(rec["stdout_file"])
            i = txt.find("[")
            try:
                j = json.loads(txt[i:]) if i >= 0 else []
            except ValueError:
                return {}
            n = sum(e.get("num_requests", 0) for e in j)
            fails = sum(e.get("num_failures", 0) for e in j)
            hist = {}
            for e in j:
                for k, c in e.get("response_times", {}).items():
                    hist[float(k)] = hist.get(float(k), 0) + c
            def pct(p):
                tot = sum(hist.values())
                if not tot:
                    return None
                acc = 0
                for k in sorted(hist):
                    acc += hist[k]
                    if acc >= p / 100 * tot:
                        return k
            tsum = sum(e.get("total_response_time", 0) for e in j)
            return {"client_requests": n, "errors": fails, "p50_ms": pct(50), "p90_ms": pct(90),
                    "p95_ms": pct(95), "p99_ms": pct(99),
                    "mean_ms": round(tsum / n, 3) if n else None}
        return argv, parse, {"BENCH_PATH": u.path or "/"}
    if tool == "artillery":
        if not b or mode != "loop":
            return None
        u = urllib.parse.urlsplit(url)
        rep = os.path.join(raw_dir, label + ".report.json")
        yml = os.path.join(raw_dir, label + ".yml")
        os.makedirs(raw_dir, exist_ok=True)
        with open(yml, "w") as f:    # generated: Artillery does not template phase numbers
            f.write(f"""config:
  target: "{u.scheme}://{u.netloc}"
  phases:
    - duration: 1
      arrivalCount: {conns}
  processor: "{os.path.join(SCRIPTS, 'artillery_proc.js')}"
scenarios:
  - flow:
      - loop:
          - get:
              url: "{u.path or '/'}"
        whileTrue: "notDone"
""")
        argv = [b, "run", "--quiet", "--output", rep, yml]
        def parse(rec):
            try:
                j = json.loads(read(rep))
            except ValueError:
                return {}
            a = j.get("aggregate", {})
            c = a.get("counters", {})
            rt = a.get("summaries", {}).get("http.response_time", {})
            return {"client_requests": c.get("http.responses"), "errors": c.get("vusers.failed"),
                    "p50_ms": rt.get("median") or rt.get("p50"), "p90_ms": rt.get("p90"),
                    "p95_ms": rt.get("p95"), "p99_ms": rt.get("p99"), "max_ms": rt.get("max"),
                    "mean_ms": rt.get("mean")}
        return argv, parse, {"BENCH_DURATION": str(duration)}
    if tool == "project":
        tmpl = os.environ.get("PROJECT_SPIKE_CMD" if mode == "sleep1" else "PROJECT_CMD")
        if mode == "loop" and os.environ.get("BENCH_SCENARIO") == "latency" and os.environ.get("PROJECT_LAT_CMD"):
            tmpl = os.environ["PROJECT_LAT_CMD"]
        if not tmpl:
            return None
        argv = shlex.split(tmpl.format(url=url, conns=conns, vus=conns, duration=duration,
                                       raw=shlex.quote(raw_dir)))
        def parse(rec):
            # Optional: if the project's LAST stdout line is a JSON object with any of these keys
            # (milliseconds), they are picked up; everything else is measured from outside.
            lines = [l for l in read(rec["stdout_file"]).splitlines() if l.strip()]
            try:
                j = json.loads(lines[-1]) if lines else {}
            except ValueError:
                return {}
            if not isinstance(j, dict):
                return {}
            keys = ("client_requests", "client_rps", "errors", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
                    "max_ms", "mean_ms")
            return {k: j[k] for k in keys if k in j}
        return argv, parse
    return None


def run_gen(tool, mode, url, conns, duration, raw_dir, label, server):
    spec = gen_cmd(tool, mode, url, conns, duration, raw_dir, label)
    if spec is None:
        return None
    argv, parse = spec[0], spec[1]
    extra = spec[2] if len(spec) > 2 else None
    rec = run_measured(label, argv, raw_dir, duration + 120, server, extra_env=extra)
    rec["tool"], rec["mode"], rec["url"], rec["conns"], rec["duration_s"] = tool, mode, url, conns, duration
    try:
        rec.update(parse(rec))
    except Exception as ex:     # a parser problem must not lose the whole-process figures
        rec["parse_error"] = repr(ex)
    if rec.get("server_requests") is not None:
        rec["rps"] = round(rec["server_requests"] / duration, 1)
    return rec


def available(tools):
    out = []
    for t in tools:
        if t == "project":
            if USES_KAIZEN and not os.access(KAIZEN_BIN, os.X_OK):
                print(f"  (skipping {tool_name(t)}: no {KAIZEN_BIN}; cargo build --release)", flush=True)
            elif os.environ.get("PROJECT_CMD") or os.environ.get("PROJECT_SPIKE_CMD") or os.environ.get("PROJECT_STARTUP_CMD"):
                out.append(t)
        elif BIN.get(t):
            out.append(t)
        else:
            print(f"  (skipping {t}: not installed)", flush=True)
    return out


def tool_name(t):
    return CFG["project_name"] if t == "project" else t


# --------------------------------------------------------------------------- statistics & tables

def summarize(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": round(statistics.median(vals), 3), "min": round(min(vals), 3),
            "max": round(max(vals), 3), "n": len(vals)}


def fmt(s, scale=1.0, digits=0, spread=True, unit=""):
    if s is None:
        return "-"
    f = lambda v: f"{v * scale:,.{digits}f}"
    if not spread or s["n"] < 2:
        return f(s["median"]) + unit
    return f"{f(s['median'])}{unit} [{f(s['min'])}–{f(s['max'])}]"


def print_table(title, headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    print(f"\n== {title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


# --------------------------------------------------------------------------- scenarios

def scenario_throughput(out_dir):
    raw = os.path.join(out_dir, "raw", "throughput")
    tools = available(CFG["tools"])
    server = Nginx()
    url, c, d = CFG["fast_url"], CFG["conns"], CFG["duration"]
    runs = []
    for rep in range(1, CFG["reps"] + 1):          # interleaved: A B C A B C ... (drift hits all alike)
        for t in tools:
            print(f"  throughput rep {rep}/{CFG['reps']}: {tool_name(t)} -c {c} for {d}s", flush=True)
            r = run_gen(t, "loop", url, c, d, raw, f"{t}-r{rep}", server)
            if r:
                r["rep"] = rep
                runs.append(r)
                print(f"    -> {r.get('server_requests')} req, {r.get('cpu_s')} cpu-s, "
                      f"{r.get('cpu_us_per_req')} cpu-us/req, rss {r.get('max_rss_kb')} kB, rc {r.get('rc')}", flush=True)
            time.sleep(1)
    summary = {}
    for t in tools:
        rs = [r for r in runs if r["tool"] == t]
        if not rs:
            continue
        summary[tool_name(t)] = {k: summarize([r.get(k) for r in rs]) for k in (
            "server_requests", "rps", "client_rps", "cpu_s", "cpu_us_per_req", "max_rss_kb",
            "gen_cpu_util", "server_cpu_util", "errors", "p50_ms", "p99_ms", "wall_s")}
    # Paired ratios: each run's CPU-µs/request divided by the reference tool's in the SAME rep.
    # Pairing cancels most of the machine's drift between reps (it is noisy and shared).
    refs = [r for r in env("REF_TOOLS", "wrk k6").split() if any(x["tool"] == r for x in runs)]
    for ref in refs:
        for t in tools:
            ratios = []
            for rep in range(1, CFG["reps"] + 1):
                a = next((r for r in runs if r["tool"] == t and r["rep"] == rep), None)
                b = next((r for r in runs if r["tool"] == ref and r["rep"] == rep), None)
                if a and b and a.get("cpu_us_per_req") and b.get("cpu_us_per_req"):
                    ratios.append(a["cpu_us_per_req"] / b["cpu_us_per_req"])
            if tool_name(t) in summary:
                summary[tool_name(t)][f"cpu_per_req_vs_{ref}"] = summarize(ratios)
    rows = []
    for name, s in summary.items():
        rows.append([name, fmt(s["server_requests"], spread=False), fmt(s["rps"]), fmt(s["cpu_s"], digits=2),
                     fmt(s["cpu_us_per_req"], digits=1), fmt(s["max_rss_kb"], 1 / 1024, 1),
                     fmt(s["gen_cpu_util"], 100, 0, False, "%"), fmt(s["server_cpu_util"], 100, 0, False, "%"),
                     fmt(s["errors"], spread=False)] +
                    [fmt(s.get(f"cpu_per_req_vs_{ref}"), digits=2, unit="x") for ref in refs])
    print_table(f"throughput: GET {url}, {c} connections/VUs, {d}s, {CFG['reps']} reps "
                f"(median [min–max]; requests counted by the server; 'vs X' = CPU-µs/req ÷ X's, paired by rep)",
                ["generator", "requests", "req/s", "gen CPU s", "CPU-µs/req", "peak RSS MB",
                 "gen CPU", "server CPU", "errors"] + [f"vs {ref}" for ref in refs], rows)
    return {"config": {"url": url, "conns": c, "duration_s": d, "reps": CFG["reps"]},
            "summary": summary, "runs": runs}


def scenario_spike(out_dir):
    raw = os.path.join(out_dir, "raw", "spike")
    tools = [t for t in available(CFG["tools"]) if t in ("k6", "oha", "locust", "project")]
    server = Nginx()
    url, d = CFG["fast_url"], CFG["spike_duration"]
    runs = []
    for vus in CFG["spike_vus"]:
        for rep in range(1, CFG["spike_reps"] + 1):
            for t in tools:
                print(f"  spike {vus} VUs rep {rep}/{CFG['spike_reps']}: {tool_name(t)} for {d}s", flush=True)
                r = run_gen(t, "sleep1", url, vus, d, raw, f"{t}-vus{vus}-r{rep}", server)
                if r:
                    r["rep"], r["vus"] = rep, vus
                    runs.append(r)
                    print(f"    -> {r.get('server_requests')} req, {r.get('cpu_s')} cpu-s, wall {r.get('wall_s')} s, "
                          f"rss {r.get('max_rss_kb')} kB, rc {r.get('rc')}", flush=True)
                time.sleep(2)
    summary = {}
    rows = []
    for vus in CFG["spike_vus"]:
        for t in tools:
            rs = [r for r in runs if r["tool"] == t and r["vus"] == vus]
            if not rs:
                continue
            s = {k: summarize([r.get(k) for r in rs]) for k in (
                "server_requests", "rps", "cpu_s", "max_rss_kb", "wall_s", "cpu_us_per_req", "errors", "p99_ms")}
            s["rss_kb_per_vu"] = summarize([r["max_rss_kb"] / vus for r in rs if r.get("max_rss_kb")])
            summary[f"{tool_name(t)}@{vus}"] = s
            rows.append([tool_name(t), vus, fmt(s["max_rss_kb"], 1 / 1024, 0), fmt(s["rss_kb_per_vu"], 1, 0),
                         fmt(s["cpu_s"], digits=2), fmt(s["wall_s"], digits=1), fmt(s["rps"]),
                         fmt(s["cpu_us_per_req"], digits=0), fmt(s["p99_ms"], digits=1)])
    print_table(f"spike / memory per VU: each VU = GET {url} then sleep 1 s, {d}s, {CFG['spike_reps']} reps",
                ["generator", "VUs", "peak RSS MB", "RSS kB/VU", "CPU s", "wall s", "req/s (server)",
                 "CPU-µs/req", "p99 ms"], rows)
    return {"config": {"url": url, "vus": CFG["spike_vus"], "duration_s": d, "reps": CFG["spike_reps"],
                       "note": "oha: -c N -q N (N connections, N req/s in all); locust: Sleep1 user"},
            "summary": summary, "runs": runs}


def scenario_latency(out_dir):
    raw = os.path.join(out_dir, "raw", "latency")
    tools = available(CFG["tools"])
    server = DelayServer()
    url = CFG["delay_base"] + "/delay"
    c, d, true_ms = CFG["lat_conns"], CFG["lat_duration"], CFG["delay_ms"]
    os.environ["BENCH_SCENARIO"] = "latency"
    runs = []
    for rep in range(1, CFG["lat_reps"] + 1):
        for t in tools:
            print(f"  latency rep {rep}/{CFG['lat_reps']}: {tool_name(t)} -c {c} for {d}s", flush=True)
            server.reset()
            r = run_gen(t, "loop", url, c, d, raw, f"{t}-r{rep}", server)
            if r:
                r["rep"] = rep
                hold = r.get("server_hold", {})
                for p in ("p50", "p95", "p99"):
                    if r.get(f"{p}_ms") is not None:
                        r[f"{p}_over_true_ms"] = round(r[f"{p}_ms"] - true_ms, 3)
                        if hold.get(f"{p}_ms") is not None:
                            r[f"{p}_over_server_ms"] = round(r[f"{p}_ms"] - hold[f"{p}_ms"], 3)
                runs.append(r)
                print(f"    -> p50 {r.get('p50_ms')} p95 {r.get('p95_ms')} p99 {r.get('p99_ms')} ms; "
                      f"server hold p50 {hold.get('p50_ms')} p99 {hold.get('p99_ms')}", flush=True)
            time.sleep(1)
    os.environ.pop("BENCH_SCENARIO", None)
    summary, rows = {}, []
    for t in tools:
        rs = [r for r in runs if r["tool"] == t]
        if not rs:
            continue
        s = {k: summarize([r.get(k) for r in rs]) for k in (
            "p50_ms", "p95_ms", "p99_ms", "p50_over_true_ms", "p95_over_true_ms", "p99_over_true_ms",
            "p50_over_server_ms", "p99_over_server_ms", "server_requests", "rps", "cpu_us_per_req")}
        s["server_hold_p50_ms"] = summarize([r.get("server_hold", {}).get("p50_ms") for r in rs])
        s["server_hold_p99_ms"] = summarize([r.get("server_hold", {}).get("p99_ms") for r in rs])
        summary[tool_name(t)] = s
        rows.append([tool_name(t), fmt(s["p50_ms"], digits=3), fmt(s["p95_ms"], digits=3), fmt(s["p99_ms"], digits=3),
                     fmt(s["p50_over_true_ms"], 1000, 0, False), fmt(s["p95_over_true_ms"], 1000, 0, False),
                     fmt(s["p99_over_true_ms"], 1000, 0, False),
                     fmt(s["p50_over_server_ms"], 1000, 0, False), fmt(s["p99_over_server_ms"], 1000, 0, False),
                     fmt(s["server_hold_p50_ms"], digits=3, spread=False) + " / " +
                     fmt(s["server_hold_p99_ms"], digits=3, spread=False),
                     fmt(s["rps"], spread=False)])
    print_table(f"latency accuracy: GET {url} (server holds {true_ms:g} ms), {c} connections, {d}s, "
                f"{CFG['lat_reps']} reps (ms; overhead in µs, medians)",
                ["generator", "p50 ms", "p95 ms", "p99 ms", "p50 −true µs", "p95 −true µs", "p99 −true µs",
                 "p50 −hold µs", "p99 −hold µs", "server hold p50/p99", "req/s"], rows)
    return {"config": {"url": url, "conns": c, "duration_s": d, "true_delay_ms": true_ms, "reps": CFG["lat_reps"]},
            "summary": summary, "runs": runs}


def scenario_startup(out_dir):
    raw = os.path.join(out_dir, "raw", "startup")
    os.makedirs(raw, exist_ok=True)
    url = CFG["fast_url"]
    cmds = {}
    if BIN["k6"]:
        cmds["k6 (1 iteration)"] = [BIN["k6"], "run", "--quiet", "--no-usage-report", "--no-summary",
                                    "--iterations", "1", "--vus", "1", "-e", f"URL={url}",
                                    os.path.join(SCRIPTS, "k6_get.js")]
    if BIN["oha"]:
        cmds["oha -n 1"] = [BIN["oha"], "-n", "1", "-c", "1", "--no-tui", "--output-format", "json", url]
    if BIN["wrk"]:
        cmds["wrk -d 1s"] = [BIN["wrk"], "-t1", "-c1", "-d1s", url]
    if BIN["locust"] and "locust" in CFG["tools"]:
        u = urllib.parse.urlsplit(url)
        cmds["locust (1 request)"] = [BIN["locust"], "-f", os.path.join(SCRIPTS, "locustfile.py"), "Once",
                                      "--headless", "-u", "1", "-r", "1", "-t", "30s",
                                      "-H", f"{u.scheme}://{u.netloc}", "--only-summary", "--skip-log"]
    if os.environ.get("PROJECT_STARTUP_CMD") and "project" in CFG["tools"]:
        if not (USES_KAIZEN and not os.access(KAIZEN_BIN, os.X_OK)):
            cmds[f"{CFG['project_name']} (1 request)"] = shlex.split(
                os.environ["PROJECT_STARTUP_CMD"].format(url=url, raw=shlex.quote(raw)))
    results = {}
    hf = shutil.which("hyperfine")
    for name, argv in cmds.items():
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        print(f"  startup: {name}", flush=True)
        res = {"argv": argv}
        if hf:
            exp = os.path.join(raw, slug + ".hyperfine.json")
            cmdline = " ".join(shlex.quote(a) for a in argv)
            with open(os.path.join(raw, slug + ".hyperfine.log"), "wb") as log:
                hr = subprocess.run(["taskset", "-c", CFG["gen_cpu"], hf, "-N", "--warmup", "2", "--runs",
                                     str(CFG["startup_runs"]), "--export-json", exp, "--style", "basic", cmdline],
                                    env=CHILD_ENV, stdout=log, stderr=subprocess.STDOUT, timeout=600)
            if hr.returncode != 0:
                print(f"    hyperfine failed (rc {hr.returncode}); see {log.name}", flush=True)
            try:
                h = json.load(open(exp))["results"][0]
                ts = h["times"]
                res["wall_ms"] = {"median": round(statistics.median(ts) * 1000, 1),
                                  "min": round(min(ts) * 1000, 1), "max": round(max(ts) * 1000, 1), "n": len(ts)}
                res["user_ms_mean"] = round(h["user"] * 1000, 1)
                res["sys_ms_mean"] = round(h["system"] * 1000, 1)
            except (OSError, ValueError, KeyError, IndexError):
                pass
        # CPU and peak RSS of a single run, 3 times, from /usr/bin/time -v
        rr = [run_measured(f"{slug}-t{i}", argv, raw, 120, None) for i in range(3)]
        res["cpu_ms"] = summarize([r["cpu_s"] * 1000 for r in rr if r.get("cpu_s") is not None])
        res["max_rss_kb"] = summarize([r.get("max_rss_kb") for r in rr])
        if "wall_ms" not in res:
            res["wall_ms"] = summarize([r["wall_s"] * 1000 for r in rr])
        results[name] = res
    for r in results.values():   # hyperfine's user+sys (µs resolution) beats time -v's 10 ms ticks
        if r.get("user_ms_mean") is not None:
            r["cpu_ms_mean"] = round(r["user_ms_mean"] + r["sys_ms_mean"], 1)
    rows = [[n, fmt(r.get("wall_ms"), digits=1),
             f"{r['cpu_ms_mean']:.1f}" if r.get("cpu_ms_mean") is not None else fmt(r.get("cpu_ms"), digits=0, spread=False),
             fmt(r.get("max_rss_kb"), 1 / 1024, 1, False)] for n, r in results.items()]
    print_table(f"startup: whole command, {CFG['startup_runs']} runs (wall: hyperfine median [min–max]; CPU: hyperfine "
                f"user+sys mean; peak RSS: median of 3 /usr/bin/time -v runs)",
                ["command", "wall ms", "CPU ms", "peak RSS MB"], rows)
    return {"config": {"url": url, "runs": CFG["startup_runs"]}, "summary": results}


SCENARIOS = {"throughput": scenario_throughput, "spike": scenario_spike, "latency": scenario_latency,
             "startup": scenario_startup}


def tool_versions():
    v = {}
    for t, argv in (("wrk", [BIN["wrk"], "-v"]), ("oha", [BIN["oha"], "--version"]), ("k6", [BIN["k6"], "version"]),
                    ("locust", [BIN["locust"], "--version"]), ("artillery", [BIN["artillery"], "version"]),
                    ("nginx", ["nginx", "-v"]),
                    ("project", [KAIZEN_BIN if USES_KAIZEN else None, "--version"])):
        if argv[0] and (t == "nginx" or t in CFG["tools"]) and (t != "project" or os.access(argv[0], os.X_OK)):
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=CHILD_ENV)
                lines = [l.strip() for l in (r.stdout + r.stderr).splitlines() if l.strip()]
                pick = [l for l in lines if l.lower().startswith(t + ":")] or lines   # Artillery prints a banner first
                v[t] = pick[0] if pick else ""
            except Exception as ex:
                v[t] = f"error: {ex}"
    return v


def _on_term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    signal.signal(signal.SIGTERM, _on_term)
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("scenarios", nargs="*", default=["throughput", "spike", "latency", "startup"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    res_path = os.path.join(a.out, "results.json")
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": {"cpus": os.cpu_count()},
               "config": CFG, "binaries": BIN, "versions": tool_versions(), "scenarios": {}}
    for s in a.scenarios:
        if s not in SCENARIOS:
            raise SystemExit(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    for s in a.scenarios:
        print(f"\n### scenario: {s}", flush=True)
        results["scenarios"][s] = SCENARIOS[s](a.out)
        with open(res_path, "w") as f:           # written after each scenario: partial runs keep data
            json.dump(results, f, indent=2)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(res_path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nresults: {res_path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as ex:
        print(f"\ninterrupted ({ex or 'Ctrl-C'}): the running generator was stopped", flush=True)
        sys.exit(130)
