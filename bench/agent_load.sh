#!/usr/bin/env bash
# The cost of `lookout agent` in one run of three phases, beside Debian's
# prometheus-node-exporter (scraped every 15 s by curl, as a Prometheus would) in the same
# run, forwarding to a local `lookout serve`:
#
#   1. idle     host metrics every 15 s and a scrape of a one-series exporter;
#   2. tailing  a generator appends LINES_PER_SEC real log lines per second (the corpus in
#               ../shared/logs, at a steady rate in 20 ticks a second) to a tailed file;
#               afterwards the script waits for the agent's logs queue to drain and counts
#               the lines on the server (LogQL count_over_time): every line must be there;
#   3. shipping the local exporter serves SERIES series, scraped every 15 s; afterwards the
#               script counts the series on the server (PromQL count).
#
# Each phase lasts PHASE_SECS. CPU is CPU seconds (utime + stime from /proc/<pid>/stat)
# over the phase's wall time, as % of one core, so it holds on a busy machine; RSS is
# VmRSS sampled every second: the peak and the steady value (median of the second half).
# The report goes to bench/out/agent.md (and stdout).
#
#   LOOKOUT_BIN=target/release/lookout bench/agent_load.sh
#
# | env | default | meaning |
# | LOOKOUT_BIN | target/release/lookout | the binary measured (say which build: debug costs several times release) |
# | PHASE_SECS | 60 | length of each phase |
# | LINES_PER_SEC | 10000 | tailing rate |
# | SERIES | 5000 | series of the local exporter |
# | SCRAPE_INTERVAL | 15s | the agent's host metrics and scrape interval |
# | DRAIN_TIMEOUT | 300 | most seconds to wait for the agent's queues to drain after a phase |
# | CORPUS | ../shared/logs | directory of *.log files the generator replays |
# | EXPORTER | /usr/bin/prometheus-node-exporter | node_exporter binary |
# | OUT | bench/out/agent.md | report |
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LOOKOUT_BIN:-$ROOT/target/release/lookout}
PHASE_SECS=${PHASE_SECS:-60}
LINES_PER_SEC=${LINES_PER_SEC:-10000}
SERIES=${SERIES:-5000}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-15s}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
CORPUS=${CORPUS:-$ROOT/../shared/logs}
EXPORTER=${EXPORTER:-/usr/bin/prometheus-node-exporter}
OUT=${OUT:-$ROOT/bench/out/agent.md}

[ -x "$BIN" ] || { echo "no lookout binary at $BIN (set LOOKOUT_BIN)" >&2; exit 1; }
[ -x "$EXPORTER" ] || { echo "no node exporter at $EXPORTER (apt-get install prometheus-node-exporter)" >&2; exit 1; }
ls "$CORPUS"/*.log >/dev/null 2>&1 || { echo "no *.log files in $CORPUS (set CORPUS)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed for the generator and the exporter" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SRV_PORT=$(free_port); AGENT_PORT=$(free_port); NE_PORT=$(free_port); EXP_PORT=$(free_port)
SRV=http://127.0.0.1:$SRV_PORT
AGENT_URL=http://127.0.0.1:$AGENT_PORT

# The local exporter: SERIES counters while $TMP/exporter.on exists, one gauge otherwise.
cat >"$TMP/exporter.py" <<'EOF'
import http.server, os, random, sys
port, n, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
per = 100
values = [0.0] * n
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if os.path.exists(flag):
            out = []
            for i in range(n):
                if i % per == 0:
                    m = f"bench_metric_{i // per}_total"
                    out.append(f"# HELP {m} A counter of the bench exporter.\n# TYPE {m} counter\n")
                values[i] += random.random() * 10
                out.append(f'{m}{{shard="{i % per}",zone="z{i % 7}"}} {values[i]:.3f}\n')
            body = "".join(out).encode()
        else:
            body = b"bench_exporter_up 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF

# The generator: the corpus' lines, round robin, LINES_PER_SEC a second in 20 ticks a
# second for SECS seconds; prints how many lines it wrote.
cat >"$TMP/generator.py" <<'EOF'
import glob, sys, time
rate, secs, out, corpus = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
lines = []
for p in sorted(glob.glob(corpus + "/*.log")):
    with open(p, encoding="utf-8", errors="replace") as f:
        lines.extend(l.rstrip("\r\n") for l in f if l.strip())
tick = 0.05
written = 0
start = time.monotonic()
with open(out, "a", encoding="utf-8") as f:
    k = 0
    while True:
        k += 1
        due = min(int(k * tick * rate), int(secs * rate))
        chunk = [lines[(written + j) % len(lines)] for j in range(due - written)]
        if chunk:
            f.write("\n".join(chunk) + "\n")
            f.flush()
            written = due
        if k * tick >= secs:
            break
        time.sleep(max(0.0, start + k * tick - time.monotonic()))
print(written)
EOF

mkdir -p "$TMP/logs"
: >"$TMP/logs/app.log"
"$BIN" serve --data "$TMP/server" --listen "127.0.0.1:$SRV_PORT" --otlp-grpc-listen 127.0.0.1:0 \
  --no-self-scrape >"$TMP/server.log" 2>&1 &
PIDS+=($!)
python3 "$TMP/exporter.py" "$EXP_PORT" "$SERIES" "$TMP/exporter.on" >"$TMP/exporter.log" 2>&1 &
PIDS+=($!)
cat >"$TMP/agent.yaml" <<EOF
host_metrics: {interval: $SCRAPE_INTERVAL}
scrape_configs:
  - job_name: bench_exporter
    scrape_interval: $SCRAPE_INTERVAL
    static_configs: [{targets: ['127.0.0.1:$EXP_PORT']}]
logs:
  - paths: ['$TMP/logs/*.log']
    labels: {job: bench_tail}
EOF
for url in "$SRV/-/ready" "http://127.0.0.1:$EXP_PORT/metrics"; do
  for _ in $(seq 1 150); do curl -sf -o /dev/null "$url" && break; sleep 0.2; done
done
"$BIN" agent --server "$SRV" --config "$TMP/agent.yaml" \
  --data "$TMP/agent" --listen "127.0.0.1:$AGENT_PORT" >"$TMP/agent.log" 2>&1 &
AGENT=$!; PIDS+=($AGENT)
"$EXPORTER" --web.listen-address="127.0.0.1:$NE_PORT" >"$TMP/ne.log" 2>&1 &
NE=$!; PIDS+=($NE)
for url in "$AGENT_URL/-/ready" "http://127.0.0.1:$NE_PORT/metrics"; do
  ok=0
  for _ in $(seq 1 150); do curl -sf -o /dev/null "$url" && { ok=1; break; }; sleep 0.2; done
  [ "$ok" = 1 ] || { echo "$url never answered; logs in $TMP" >&2; tail -5 "$TMP"/*.log >&2; exit 1; }
done
sleep 5 # past start-up

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
agent_metric() {
  curl -sf "$AGENT_URL/metrics" | awk -v s="$1" 'index($0, s" ") == 1 {print $2; exit}'
}

# measure NAME: samples both processes for PHASE_SECS; sets PHASE_ROW.
measure() {
  local name=$1 a0 n0 t0 a1 n1 t1 i
  : >"$TMP/rss-$name-agent"; : >"$TMP/rss-$name-ne"
  a0=$(cpu_ticks "$AGENT"); n0=$(cpu_ticks "$NE"); t0=$(now)
  for i in $(seq 1 "$PHASE_SECS"); do
    # node_exporter is scraped every 15 s, like the agent's own host metrics.
    if [ $((i % 15)) = 1 ]; then curl -sf -o /dev/null "http://127.0.0.1:$NE_PORT/metrics" || true; fi
    rss_kb "$AGENT" >>"$TMP/rss-$name-agent"; rss_kb "$NE" >>"$TMP/rss-$name-ne"
    sleep 1
  done
  a1=$(cpu_ticks "$AGENT"); n1=$(cpu_ticks "$NE"); t1=$(now)
  PHASE_ROW=$(awk -v t="$TICK" -v a="$((a1 - a0))" -v n="$((n1 - n0))" -v w0="$t0" -v w1="$t1" \
    -v ar="$(stats "$TMP/rss-$name-agent")" -v nr="$(stats "$TMP/rss-$name-ne")" \
    'BEGIN {w = w1 - w0; split(ar, A, " "); split(nr, N, " ");
      printf "%.2f | %.1f | %.1f | %.2f | %.1f", 100*a/t/w, A[1]/1024, A[2]/1024, 100*n/t/w, N[1]/1024}')
  echo "$name: $PHASE_ROW" >&2
}
# stats FILE: "peak median-of-second-half" of a column of kB values.
stats() {
  awk '{v[NR] = $1; if ($1 > m) m = $1} END {
    h = int(NR / 2) + 1; n = 0; for (i = h; i <= NR; i++) s[++n] = v[i];
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] < s[i]) {x = s[i]; s[i] = s[j]; s[j] = x}
    print m, (n ? s[int((n + 1) / 2)] : 0)}' "$1"
}
wait_drained() {
  local deadline=$(( $(date +%s) + DRAIN_TIMEOUT )) r
  while [ "$(date +%s)" -lt "$deadline" ]; do
    r=$(agent_metric "lookout_agent_queue_records{signal=\"$1\"}")
    [ "${r:-1}" = 0 ] && return 0
    sleep 1
  done
  echo "the agent's $1 queue did not drain in ${DRAIN_TIMEOUT}s" >&2
  return 1
}
# query PATH: the first sample value of a Prometheus/Loki vector answer, or "none".
query_value() {
  curl -sf --max-time 300 "$SRV$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "none")' 2>/dev/null || echo none
}
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

START=$(date -u +%FT%TZ)
echo "phase 1/3: idle (${PHASE_SECS}s)" >&2
measure idle; IDLE=$PHASE_ROW

echo "phase 2/3: tailing ${LINES_PER_SEC} lines/s (${PHASE_SECS}s)" >&2
python3 "$TMP/generator.py" "$LINES_PER_SEC" "$PHASE_SECS" "$TMP/logs/app.log" "$CORPUS" >"$TMP/written" &
GEN=$!; PIDS+=($GEN)
measure tailing; TAIL=$PHASE_ROW
wait "$GEN" || true
WRITTEN=$(cat "$TMP/written")
READ_OK=yes; wait_drained logs || READ_OK=no
TAIL_Q=$(enc 'sum(count_over_time({job="bench_tail"}[1h]))')
# One second ahead: `date +%s` floors, and lines read in this second are stamped after it.
ARRIVED=$(query_value "/loki/api/v1/query?query=$TAIL_Q&time=$(($(date +%s) + 1))")
ARRIVED=${ARRIVED%.*}
[ "$ARRIVED" = "$WRITTEN" ] && TAIL_CHECK="all $WRITTEN lines on the server" \
  || TAIL_CHECK="MISSING: wrote $WRITTEN lines, the server has $ARRIVED (queue drained: $READ_OK)"

echo "phase 3/3: shipping ${SERIES} series every ${SCRAPE_INTERVAL} (${PHASE_SECS}s)" >&2
touch "$TMP/exporter.on"
measure shipping; SHIP=$PHASE_ROW
wait_drained metrics || true
SERIES_Q=$(enc 'count({__name__=~"bench_metric_.*"})')
GOT_SERIES=$(query_value "/api/v1/query?query=$SERIES_Q&time=$(date +%s)")
[ "$GOT_SERIES" = "$SERIES" ] && SHIP_CHECK="all $SERIES series on the server" \
  || SHIP_CHECK="MISSING: the server has ${GOT_SERIES} of $SERIES series"
FAILED=$(agent_metric 'lookout_agent_send_failures_total{signal="logs"}')

verdict() { awk -v v="$1" -v max="$2" 'BEGIN {print (v + 0 < max + 0) ? "met" : "MISSED"}'; }
IDLE_CPU=$(echo "$IDLE" | cut -d'|' -f1); IDLE_RSS=$(echo "$IDLE" | cut -d'|' -f2)
TAIL_CPU=$(echo "$TAIL" | cut -d'|' -f1)
{
  echo "# lookout agent under load"
  echo
  echo "\`LOOKOUT_BIN=$BIN bench/agent_load.sh\`, started $START on $(nproc) cores"
  echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)). Each phase ${PHASE_SECS}s;"
  echo "CPU is CPU seconds over wall time in % of one core; RSS in MiB (steady: median of the"
  echo "phase's second half). prometheus-node-exporter ran idle beside the agent in the same run,"
  echo "scraped every 15 s."
  echo
  echo "| phase | load | agent CPU % | agent RSS peak | agent RSS steady | node_exporter CPU % | node_exporter RSS peak | check |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
  echo "| idle | host metrics every $SCRAPE_INTERVAL, 1-series scrape | $IDLE | |"
  echo "| tailing | $LINES_PER_SEC lines/s appended to one file | $TAIL | $TAIL_CHECK |"
  echo "| shipping | $SERIES series scraped every $SCRAPE_INTERVAL | $SHIP | $SHIP_CHECK |"
  echo
  echo "Targets: idle < 2% of a core ($(verdict "$IDLE_CPU" 2)) and < 40 MiB RSS ($(verdict "$IDLE_RSS" 40));"
  echo "tailing $LINES_PER_SEC lines/s < 10% of a core ($(verdict "$TAIL_CPU" 10))."
  echo "Failed log sends during the run (retried): ${FAILED:-0}."
} >"$OUT"
cat "$OUT"
