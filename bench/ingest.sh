#!/usr/bin/env bash
# Ingestion benchmark: Lookout vs Prometheus vs VictoriaMetrics on the same
# deterministic remote_write dataset (see bench/README.md).
#
#   SERIES=100000 DURATION=2h INTERVAL=15s bench/ingest.sh
#
# Env: SERIES DURATION INTERVAL CONCURRENCY BATCH SEED SYSTEMS LOOKOUT_BIN RWGEN
#      OUT_DIR WORK_DIR KEEP_DATA LOOKOUT_HEADERS (space-separated K:V for lookout)
#      BASELINE_BIN (a second lookout binary, run as system `lookout-baseline`)
#      QUERY_CLIENTS (clients sending over-budget queries to system `lookout-under-queries`)
#
# Extra systems: `lookout-baseline` runs $BASELINE_BIN (e.g. the build before a change) the
# same way as `lookout`; `lookout-under-queries` runs $LOOKOUT_BIN while QUERY_CLIENTS
# clients send queries that each exceed the query budget (bench/hostile-queries.txt), so its
# samples/s over lookout's is what over-budget queries cost ingestion.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

SERIES=${SERIES:-100000}
DURATION=${DURATION:-2h}
INTERVAL=${INTERVAL:-15s}
CONCURRENCY=${CONCURRENCY:-4}
BATCH=${BATCH:-10000}
SEED=${SEED:-1}
SYSTEMS=${SYSTEMS:-"lookout prometheus victoria-metrics"}
LOOKOUT_BIN=${LOOKOUT_BIN:-$ROOT/target/release/lookout}
LOOKOUT_HEADERS=${LOOKOUT_HEADERS:-}
BASELINE_BIN=${BASELINE_BIN:-}
QUERY_CLIENTS=${QUERY_CLIENTS:-4}
HOSTILE_QUERIES=${HOSTILE_QUERIES:-$BENCH_DIR/hostile-queries.txt}
RWGEN=${RWGEN:-$ROOT/target/release/rwgen}
QUERYSTORM=${QUERYSTORM:-$ROOT/target/release/querystorm}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
KEEP_DATA=${KEEP_DATA:-0}
RWGEN_MAX_TIME=${RWGEN_MAX_TIME:-1h}   # hard bound of one ingestion run
READY_TIMEOUT=${READY_TIMEOUT:-90}     # s, server start-up
PERSIST_TIMEOUT=${PERSIST_TIMEOUT:-900} # s, flush/snapshot/merge
STOP_TIMEOUT=${STOP_TIMEOUT:-60}       # s, graceful stop before SIGKILL

mkdir -p "$OUT_DIR"
WORK=${WORK_DIR:-$(mktemp -d /tmp/lookout-ingest.XXXXXX)}
mkdir -p "$WORK"
LOG="$OUT_DIR/ingest.log"
: >"$LOG"

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [[ "$KEEP_DATA" != 1 && -z "${WORK_DIR:-}" ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
free_port() { # first free loopback TCP port >= $1
  local p=$1 i
  for i in $(seq 1 200); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    p=$((p + 1))
  done
  die "no free port near $1"
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" 2>/dev/null || true; }

wait_http() { # url timeout_s [accept_any]: wait for 200 (or any HTTP answer)
  local url=$1 t=$2 any=${3:-0} code deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    code=$(http_code "$url")
    if [[ "$code" == 200 ]] || [[ "$any" == 1 && "$code" != 000 && -n "$code" ]]; then return 0; fi
    sleep 0.3
  done
  return 1
}

status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status" 2>/dev/null || true; }

dir_bytes() { du -sb "$1" 2>/dev/null | cut -f1; }

wait_dir_stable() { # dir timeout_s: until du is unchanged for 3 polls 2 s apart
  local d=$1 deadline=$((SECONDS + $2)) last=-1 same=0 cur
  while ((SECONDS < deadline)); do
    cur=$(dir_bytes "$d")
    if [[ "$cur" == "$last" ]]; then same=$((same + 1)); else same=0; fi
    ((same >= 3)) && return 0
    last=$cur
    sleep 2
  done
  log "warning: $d still changing after $2 s"
}

forget_pid() { # never signal a pid after we reaped it (it could be reused)
  local p keep=()
  for p in "${PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

stop_pid() {
  local pid=$1
  forget_pid "$pid"
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.3; done
  if kill -0 "$pid" 2>/dev/null; then log "SIGKILL $pid"; kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

json_num() { grep -o "\"$2\":[-0-9.eE+]*" <<<"$1" | head -1 | cut -d: -f2; }

fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "" || v == "n/a") print "n/a"; else printf "%.*f", d, v }'; }
fmt_int() { # thousands separators
  awk -v v="$1" 'BEGIN { if (v == "" || v == "n/a") { print "n/a"; exit } s = sprintf("%.0f", v); o = "";
    while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f×", a / b }'; }

# ---------------------------------------------------------------- setup
if command -v cargo >/dev/null; then
  log "building rwgen"
  if ! (cd "$ROOT" && cargo build --release -q -p lookout -p lookout-bench) >>"$LOG" 2>&1; then
    [[ -x "$RWGEN" ]] || die "cannot build rwgen (see $LOG)"
    log "warning: cargo build failed, using existing $RWGEN"
  fi
fi
[[ -x "$RWGEN" ]] || die "rwgen not found at $RWGEN"
[[ " $SYSTEMS " != *" lookout-under-queries "* || -x "$QUERYSTORM" ]] || die "querystorm not found at $QUERYSTORM"

need=()
for s in $SYSTEMS; do
  case $s in
    prometheus) command -v prometheus >/dev/null || need+=(prometheus) ;;
    victoria-metrics) command -v victoria-metrics >/dev/null || need+=(victoria-metrics) ;;
  esac
done
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  log "installing ${need[*]}"
  $SUDO apt-get update -q >>"$LOG" 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}" >>"$LOG" 2>&1 || die "apt-get install ${need[*]} failed (see $LOG)"
fi

END_MS=$(($(date +%s%N) / 1000000)) # same dataset for every system
END_S=$((END_MS / 1000))
log "work dir $WORK; series=$SERIES duration=$DURATION interval=$INTERVAL concurrency=$CONCURRENCY batch=$BATCH end=$END_MS"

STEPS=0
declare -A LOAD VER RATE WALL SAMPLES PEAK RSS_END DISK DISK_NOTE SERIES_SEEN NOTE ANSWERS

# ---------------------------------------------------------------- one system
# start_<sys> sets: SPID URL DATA READY_URL READY_ANY
start_lookout_bin() { # binary system-name
  local port; port=$(free_port 19700)
  DATA="$WORK/$2"; mkdir -p "$DATA"
  "$1" serve --data "$DATA" --listen "127.0.0.1:$port" >"$OUT_DIR/$2.log" 2>&1 &
  SPID=$!
  BASE="http://127.0.0.1:$port"; URL="$BASE/api/v1/write"; READY_URL="$BASE/"; READY_ANY=1
  QUERY_URL="$BASE/api/v1/query"
}
start_lookout() { start_lookout_bin "$LOOKOUT_BIN" lookout; }
start_lookout-baseline() { start_lookout_bin "$BASELINE_BIN" lookout-baseline; }
start_lookout-under-queries() { start_lookout_bin "$LOOKOUT_BIN" lookout-under-queries; }
start_prometheus() {
  local port; port=$(free_port 19090)
  DATA="$WORK/prometheus"; mkdir -p "$DATA"
  printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' >"$WORK/prometheus.yml"
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$DATA" \
    --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$port" \
    --web.enable-remote-write-receiver --web.enable-admin-api >"$OUT_DIR/prometheus.log" 2>&1 &
  SPID=$!
  BASE="http://127.0.0.1:$port"; URL="$BASE/api/v1/write"; READY_URL="$BASE/-/ready"; READY_ANY=0
  QUERY_URL="$BASE/api/v1/query"
}
start_victoria-metrics() {
  local port; port=$(free_port 18428)
  DATA="$WORK/victoria-metrics"; mkdir -p "$DATA"
  victoria-metrics -storageDataPath="$DATA" -httpListenAddr="127.0.0.1:$port" -retentionPeriod=100y \
    >"$OUT_DIR/victoria-metrics.log" 2>&1 &
  SPID=$!
  BASE="http://127.0.0.1:$port"; URL="$BASE/api/v1/write"; READY_URL="$BASE/health"; READY_ANY=0
  QUERY_URL="$BASE/api/v1/query"
}

version_of() {
  local v=""
  case $1 in
    lookout | lookout-under-queries) v=$("$LOOKOUT_BIN" --version 2>/dev/null | head -1 | awk '{print $NF}') || true
      v="$v-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" ;;
    lookout-baseline) v=$("$BASELINE_BIN" --version 2>/dev/null | head -1 | awk '{print $NF}') || true
      v="$v ($BASELINE_BIN)" ;;
    prometheus) v=$(prometheus --version 2>&1 | head -1 | awk '{print $3}') ;;
    victoria-metrics) v=$(victoria-metrics -version 2>/dev/null | head -1) || true
      [[ -n "$v" ]] || v=$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo unknown) ;;
  esac
  echo "$v"
}

# Persist everything ingested, then set PERSIST_BYTES (and DISK_NOTE).
persist_lookout() { # [system name]
  set -- "${1:-lookout}"
  local code
  code=$(curl -s -o "$WORK/flush.out" -w '%{http_code}' --max-time "$PERSIST_TIMEOUT" -XPOST "$BASE/api/v1/admin/flush" || true)
  [[ "$code" == 2* ]] || log "warning: lookout flush answered HTTP $code: $(head -c 300 "$WORK/flush.out" 2>/dev/null)"
  wait_dir_stable "$DATA" "$PERSIST_TIMEOUT"
  PERSIST_BYTES=$(dir_bytes "$DATA")
  DISK_NOTE[$1]="whole data dir after POST /api/v1/admin/flush"
}
persist_lookout-baseline() { persist_lookout lookout-baseline; }
persist_lookout-under-queries() { persist_lookout lookout-under-queries; }

# querystorm: QUERY_CLIENTS clients sending the queries of $HOSTILE_QUERIES in turn, back
# to back, until $1 exists; its JSON summary (answers by status) goes to $2.
start_query_clients() {
  "$QUERYSTORM" --url "$BASE" --queries "$HOSTILE_QUERIES" --end "$END_S" \
    --clients "$QUERY_CLIENTS" --stop-file "$1" --max-time 7200 >"$2" 2>>"$LOG" &
  QUERY_PIDS=($!)
  PIDS+=($!)
}
persist_prometheus() {
  local resp name
  resp=$(curl -s -XPOST --max-time "$PERSIST_TIMEOUT" "$BASE/api/v1/admin/tsdb/snapshot?skip_head=false" || true)
  name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' <<<"$resp")
  [[ -n "$name" && -d "$DATA/snapshots/$name" ]] || { log "prometheus snapshot failed: $resp"; PERSIST_BYTES=n/a; return; }
  PERSIST_BYTES=$(dir_bytes "$DATA/snapshots/$name")
  DISK_NOTE[prometheus]="snapshot (head written as a block, skip_head=false); whole data dir incl. WAL+snapshot: $(fmt_int "$(dir_bytes "$DATA")") B"
}
vm_active_merges() {
  curl -s --max-time 5 "$BASE/metrics" | awk '/^vm_active_merges[{ ]/ {s += $NF} END {print s + 0}'
}
persist_victoria-metrics() {
  curl -s --max-time 60 "$BASE/internal/force_flush" >/dev/null || true
  curl -s --max-time 60 "$BASE/internal/force_merge" >/dev/null || true
  sleep 2
  local deadline=$((SECONDS + PERSIST_TIMEOUT))
  while ((SECONDS < deadline)) && [[ "$(vm_active_merges)" != 0 ]]; do sleep 1; done
  wait_dir_stable "$DATA" "$PERSIST_TIMEOUT"
  PERSIST_BYTES=$(dir_bytes "$DATA")
  DISK_NOTE[victoria-metrics]="whole -storageDataPath after /internal/force_flush + /internal/force_merge (data $(fmt_int "$(dir_bytes "$DATA/data")") B, indexdb $(fmt_int "$(dir_bytes "$DATA/indexdb")") B)"
}

series_seen() { # instant query count({job="node"}) at the end of the dataset
  local resp
  resp=$(curl -s --max-time 120 "$QUERY_URL" --data-urlencode 'query=count({job="node"})' --data-urlencode "time=$END_S" 2>/dev/null || true)
  sed -n 's/.*"value":\[[^,]*,"\([0-9.e+]*\)"\].*/\1/p' <<<"$resp" | head -1
}

run_system() {
  local sys=$1
  if [[ "$sys" == lookout-baseline && ! -x "$BASELINE_BIN" ]]; then
    log "lookout-baseline: BASELINE_BIN ($BASELINE_BIN) is not an executable — skipped"
    NOTE[$sys]="skipped: BASELINE_BIN not set"
    return 0
  fi
  if [[ "$sys" == lookout* && ! -x "$LOOKOUT_BIN" ]]; then
    log "lookout: $LOOKOUT_BIN not found — skipped (build it with cargo build --release -p lookout)"
    NOTE[$sys]="skipped: $LOOKOUT_BIN missing"
    return 0
  fi
  LOAD[$sys]=$(cut -d' ' -f1-3 /proc/loadavg)
  log "=== $sys (load: ${LOAD[$sys]})"
  VER[$sys]=$(version_of "$sys")
  "start_$sys"
  PIDS+=("$SPID")
  if ! wait_http "$READY_URL" "$READY_TIMEOUT" "$READY_ANY"; then
    log "$sys did not become ready in $READY_TIMEOUT s (log: $OUT_DIR/$sys.log)"
    NOTE[$sys]="failed: not ready"; stop_pid "$SPID"; return 0
  fi
  log "$sys ready at $BASE (pid $SPID, version ${VER[$sys]}), idle RSS $(status_kb "$SPID" VmRSS) kB"

  # RSS poller (bounded by the server's lifetime; also killed explicitly below)
  local rss_csv="$OUT_DIR/rss-$sys.csv"
  echo "t_s,rss_kb" >"$rss_csv"
  ( t0=$SECONDS; while kill -0 "$SPID" 2>/dev/null && ((SECONDS - t0 < 7200)); do
      r=$(status_kb "$SPID" VmRSS); [[ -n "$r" ]] && echo "$((SECONDS - t0)),$r" >>"$rss_csv"; sleep 0.5
    done ) &
  local poller=$!
  PIDS+=("$poller")

  local hdr=()
  if [[ "$sys" == lookout* ]]; then for h in $LOOKOUT_HEADERS; do hdr+=(--header "$h"); done; fi
  local codes="$OUT_DIR/querystorm-$sys.json"
  if [[ "$sys" == lookout-under-queries ]]; then
    rm -f "$WORK/stop-queries"
    start_query_clients "$WORK/stop-queries" "$codes"
    log "$sys: $QUERY_CLIENTS clients sending over-budget queries ($HOSTILE_QUERIES)"
  fi
  local res rc=0
  res=$("$RWGEN" --url "$URL" --series "$SERIES" --duration "$DURATION" --interval "$INTERVAL" \
    --end-time "$END_MS" --batch "$BATCH" --concurrency "$CONCURRENCY" --seed "$SEED" \
    --max-time "$RWGEN_MAX_TIME" "${hdr[@]}" 2> >(tee -a "$LOG" >&2)) || rc=$?
  echo "$res" >"$OUT_DIR/rwgen-$sys.json"
  local hwm_ingest; hwm_ingest=$(status_kb "$SPID" VmHWM)
  if [[ "$sys" == lookout-under-queries ]]; then
    touch "$WORK/stop-queries"
    local q; for q in "${QUERY_PIDS[@]}"; do wait "$q" 2>/dev/null || true; forget_pid "$q"; done
    ANSWERS[$sys]=$(grep -o '"answers":{[^}]*}' "$codes" | sed 's/"answers"://')
    log "$sys: query answers by status: ${ANSWERS[$sys]}"
  fi
  log "$sys rwgen: $res"
  if ((rc != 0)) || [[ "$res" != *'"ok":true'* ]]; then
    log "$sys: ingestion FAILED (rwgen exit $rc)"
    NOTE[$sys]="failed: ingestion error (see $LOG)"
  fi
  STEPS=$(json_num "$res" timestamps)
  RATE[$sys]=$(json_num "$res" samples_per_s)
  WALL[$sys]=$(json_num "$res" wall_s)
  SAMPLES[$sys]=$(json_num "$res" samples)
  log "$sys: VmHWM after ingestion $hwm_ingest kB; persisting..."

  PERSIST_BYTES=n/a
  "persist_$sys"
  DISK[$sys]=$PERSIST_BYTES
  local hwm_end polled
  hwm_end=$(status_kb "$SPID" VmHWM)
  RSS_END[$sys]=$(status_kb "$SPID" VmRSS)
  polled=$(awk -F, 'NR > 1 && $2 > m {m = $2} END {print m + 0}' "$rss_csv")
  PEAK[$sys]=$(awk -v a="${hwm_end:-0}" -v b="$polled" 'BEGIN {print (a > b ? a : b)}')
  log "$sys: on disk $PERSIST_BYTES B; VmHWM ingest=$hwm_ingest kB end=$hwm_end kB, polled max $polled kB, RSS now ${RSS_END[$sys]} kB"
  SERIES_SEEN[$sys]=$(series_seen)
  log "$sys: count({job=\"node\"}) at end = ${SERIES_SEEN[$sys]:-n/a}"

  kill "$poller" 2>/dev/null || true
  wait "$poller" 2>/dev/null || true
  forget_pid "$poller"
  stop_pid "$SPID"
  if [[ "$KEEP_DATA" != 1 ]]; then rm -rf "$DATA"; fi
}

for sys in $SYSTEMS; do run_system "$sys"; done

# ---------------------------------------------------------------- report
steps=${STEPS:-0}
REPORT="$OUT_DIR/ingest.md"
{
  echo "## Ingestion benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo
  echo "Dataset: rwgen node-exporter-like, **$(fmt_int "$SERIES") active series**, $DURATION at $INTERVAL ($steps samples/series, $(fmt_int "$((SERIES * ${steps:-0}))") samples), seed $SEED; remote_write 1.0, $BATCH samples/request, $CONCURRENCY concurrent shards, time-major order, request bodies pre-encoded before timing."
  echo
  echo "| system | version | samples/s | peak RSS MiB | RSS bytes/active series | bytes on disk | bytes/sample |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for sys in $SYSTEMS; do
    if [[ -z "${VER[$sys]:-}" ]]; then echo "| $sys | — | ${NOTE[$sys]:-not run} | | | | |"; continue; fi
    peak_b=$(awk -v k="${PEAK[$sys]:-0}" 'BEGIN {print k * 1024}')
    bps=$(awk -v d="${DISK[$sys]}" -v n="${SAMPLES[$sys]:-0}" 'BEGIN { if (d == "n/a" || n == 0) print "n/a"; else print d / n }')
    echo "| $sys | ${VER[$sys]} | $(fmt_int "${RATE[$sys]:-}") | $(fmt "$(awk -v b="$peak_b" 'BEGIN {print b / 1048576}')" 0) | $(fmt "$(awk -v b="$peak_b" -v s="$SERIES" 'BEGIN {print b / s}')" 0) | $(fmt_int "${DISK[$sys]}") | $(fmt "$bps" 2) |"
  done
  echo
  if [[ -n "${VER[victoria-metrics]:-}" ]]; then
    echo "Ratios vs VictoriaMetrics (samples/s: higher is better; RSS and bytes/sample: lower is better):"
    echo
    echo "| system | samples/s | peak RSS | bytes/sample |"
    echo "|---|---:|---:|---:|"
    for sys in $SYSTEMS; do
      [[ -n "${VER[$sys]:-}" ]] || continue
      bps=$(awk -v d="${DISK[$sys]}" -v n="${SAMPLES[$sys]:-0}" 'BEGIN { if (d == "n/a" || n == 0) print "n/a"; else print d / n }')
      vbps=$(awk -v d="${DISK[victoria-metrics]}" -v n="${SAMPLES[victoria-metrics]:-0}" 'BEGIN { if (d == "n/a" || n == 0) print "n/a"; else print d / n }')
      echo "| $sys | $(ratio "${RATE[$sys]:-}" "${RATE[victoria-metrics]:-}") | $(ratio "${PEAK[$sys]:-}" "${PEAK[victoria-metrics]:-}") | $(ratio "$bps" "$vbps") |"
    done
    echo
  fi
  if [[ -n "${VER[lookout-under-queries]:-}" && -n "${VER[lookout]:-}" ]]; then
    echo "Ingestion while $QUERY_CLIENTS clients send over-budget queries: $(ratio "${RATE[lookout-under-queries]:-}" "${RATE[lookout]:-}") of lookout's samples/s alone, peak RSS $(ratio "${PEAK[lookout-under-queries]:-}" "${PEAK[lookout]:-}") of lookout's; query answers by HTTP status: ${ANSWERS[lookout-under-queries]:-none}."
    echo
  fi
  if [[ -n "${VER[lookout-baseline]:-}" && -n "${VER[lookout]:-}" ]]; then
    echo "lookout over lookout-baseline: samples/s $(ratio "${RATE[lookout]:-}" "${RATE[lookout-baseline]:-}"), peak RSS $(ratio "${PEAK[lookout]:-}" "${PEAK[lookout-baseline]:-}")."
    echo
  fi
  echo "Details:"
  echo
  for sys in $SYSTEMS; do
    if [[ -z "${VER[$sys]:-}" ]]; then echo "- $sys: ${NOTE[$sys]:-not run}"; continue; fi
    echo "- $sys: ingest wall $(fmt "${WALL[$sys]:-}" 1) s for $(fmt_int "${SAMPLES[$sys]:-}") samples; RSS at end $(fmt "$(awk -v k="${RSS_END[$sys]:-0}" 'BEGIN {print k / 1024}')" 0) MiB; count({job=\"node\"}) = ${SERIES_SEEN[$sys]:-n/a}; load avg before: ${LOAD[$sys]}; disk: ${DISK_NOTE[$sys]:-}${NOTE[$sys]:+; ${NOTE[$sys]}}"
  done
} >"$REPORT"
cat "$REPORT"
log "report written to $REPORT"
