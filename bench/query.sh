#!/usr/bin/env bash
# Query benchmark: node-dashboard range queries (bench/queries.txt) against Lookout,
# Prometheus and VictoriaMetrics (response cache off), all loaded with the same rwgen
# remote_write dataset; median of RUNS runs each, and Lookout's answers checked against
# Prometheus' (see bench/README.md).
#
#   SERIES=100000 DURATION=2h bench/query.sh
#   SERIES=2000 DURATION=1h RUNS=5 bench/query.sh      # quick end-to-end run
#
# Env: SERIES DURATION INTERVAL SEED RANGE STEP RUNS SYSTEMS QUERIES LOOKOUT_BIN RWGEN
#      QUERYBENCH OUT_DIR WORK_DIR KEEP_DATA BUILD (0: use the binaries as they are)
#      BASELINE_BIN (a second lookout binary, e.g. the build before a change, queried as
#      system `lookout-baseline` when SYSTEMS names it)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

SERIES=${SERIES:-100000}
DURATION=${DURATION:-2h}
INTERVAL=${INTERVAL:-15s}
SEED=${SEED:-1}
RANGE=${RANGE:-3600}   # s, the dashboard's time range (the dataset's last hour)
STEP=${STEP:-15}       # s, Grafana's step for 1h on a wide panel
RUNS=${RUNS:-5}
SYSTEMS=${SYSTEMS:-"lookout prometheus victoria-metrics"}
QUERIES=${QUERIES:-$BENCH_DIR/queries.txt}
LOOKOUT_BIN=${LOOKOUT_BIN:-$ROOT/target/release/lookout}
BASELINE_BIN=${BASELINE_BIN:-}
RWGEN=${RWGEN:-$ROOT/target/release/rwgen}
QUERYBENCH=${QUERYBENCH:-$ROOT/target/release/querybench}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
KEEP_DATA=${KEEP_DATA:-0}
READY_TIMEOUT=${READY_TIMEOUT:-90}
PERSIST_TIMEOUT=${PERSIST_TIMEOUT:-900}

mkdir -p "$OUT_DIR"
WORK=${WORK_DIR:-$(mktemp -d /tmp/lookout-query.XXXXXX)}
mkdir -p "$WORK"
LOG="$OUT_DIR/query.log"
: >"$LOG"

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
die() { log "FATAL: $*"; exit 1; }

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

free_port() {
  local p=$1 i
  for i in $(seq 1 200); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    p=$((p + 1))
  done
  die "no free port near $1"
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" 2>/dev/null || true; }
wait_http() { # url timeout_s [accept_any]
  local url=$1 any=${3:-0} code deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    code=$(http_code "$url")
    if [[ "$code" == 200 ]] || [[ "$any" == 1 && "$code" != 000 && -n "$code" ]]; then return 0; fi
    sleep 0.3
  done
  return 1
}

# ---------------------------------------------------------------- setup
if [[ "${BUILD:-1}" == 1 ]] && command -v cargo >/dev/null; then
  log "building lookout, rwgen and querybench (release)"
  (cd "$ROOT" && cargo build --release -q -p lookout -p lookout-bench) >>"$LOG" 2>&1 ||
    log "warning: cargo build failed, using existing binaries (see $LOG)"
fi
for b in "$RWGEN" "$QUERYBENCH"; do [[ -x "$b" ]] || die "$b not found"; done
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
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}" >>"$LOG" 2>&1 || die "apt-get install ${need[*]} failed"
fi

END_MS=$(($(date +%s%N) / 1000000))
log "work dir $WORK; series=$SERIES duration=$DURATION interval=$INTERVAL end=$END_MS; range=${RANGE}s step=${STEP}s runs=$RUNS"

declare -A BASE VER

start_lookout_bin() { # binary system-name
  local port; port=$(free_port 19700)
  mkdir -p "$WORK/$2"
  "$1" serve --data "$WORK/$2" --listen "127.0.0.1:$port" >"$OUT_DIR/query-$2.log" 2>&1 &
  SPID=$!; BASE[$2]="http://127.0.0.1:$port"; READY_URL="${BASE[$2]}/-/ready"
  VER[$2]=$("$1" --version 2>/dev/null | awk '{print $NF}')
}
start_lookout() { start_lookout_bin "$LOOKOUT_BIN" lookout; }
start_lookout-baseline() { start_lookout_bin "$BASELINE_BIN" lookout-baseline; }
start_prometheus() {
  local port; port=$(free_port 19090)
  mkdir -p "$WORK/prometheus"
  printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' >"$WORK/prometheus.yml"
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
    --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$port" \
    --web.enable-remote-write-receiver >"$OUT_DIR/query-prometheus.log" 2>&1 &
  SPID=$!; BASE[prometheus]="http://127.0.0.1:$port"; READY_URL="${BASE[prometheus]}/-/ready"
  VER[prometheus]=$(prometheus --version 2>&1 | head -1 | awk '{print $3}')
}
start_victoria-metrics() {
  local port; port=$(free_port 18428)
  mkdir -p "$WORK/victoria-metrics"
  # -search.disableCache: no response cache, so every run computes its answer.
  # -search.latencyOffset=0s: answer up to the newest sample (the dataset ends "now").
  victoria-metrics -storageDataPath="$WORK/victoria-metrics" -httpListenAddr="127.0.0.1:$port" \
    -retentionPeriod=100y -search.disableCache -search.latencyOffset=0s \
    >"$OUT_DIR/query-victoria-metrics.log" 2>&1 &
  SPID=$!; BASE[victoria-metrics]="http://127.0.0.1:$port"; READY_URL="${BASE[victoria-metrics]}/health"
  VER[victoria-metrics]=$(victoria-metrics -version 2>/dev/null | head -1 || true)
  [[ -n "${VER[victoria-metrics]}" ]] || VER[victoria-metrics]=$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo unknown)
}

# Make everything ingested visible to queries.
settle_lookout() { :; }
settle_lookout-baseline() { :; }
settle_prometheus() { :; }
settle_victoria-metrics() {
  curl -s --max-time 60 "${BASE[victoria-metrics]}/internal/force_flush" >/dev/null || true
  sleep 2
}

SYS_ARGS=()
for sys in $SYSTEMS; do
  if [[ "$sys" == lookout && ! -x "$LOOKOUT_BIN" ]]; then log "lookout: $LOOKOUT_BIN missing, skipped"; continue; fi
  if [[ "$sys" == lookout-baseline && ! -x "$BASELINE_BIN" ]]; then log "lookout-baseline: BASELINE_BIN missing, skipped"; continue; fi
  "start_$sys"
  PIDS+=("$SPID")
  wait_http "$READY_URL" "$READY_TIMEOUT" || die "$sys did not become ready (log in $OUT_DIR)"
  log "$sys ready at ${BASE[$sys]}; loading $SERIES series"
  res=$("$RWGEN" --url "${BASE[$sys]}/api/v1/write" --series "$SERIES" --duration "$DURATION" \
    --interval "$INTERVAL" --end-time "$END_MS" --seed "$SEED" 2>>"$LOG") || die "$sys: rwgen failed: $res"
  [[ "$res" == *'"ok":true'* ]] || die "$sys: ingestion failed: $res"
  log "$sys: $res"
  "settle_$sys"
  SYS_ARGS+=(--system "$sys=${BASE[$sys]}")
done

log "running queries"
REF=prometheus
[[ " $SYSTEMS " == *" prometheus "* ]] || REF=none
TABLE=$("$QUERYBENCH" --queries "$QUERIES" "${SYS_ARGS[@]}" --reference "$REF" \
  --end "$(awk -v m="$END_MS" 'BEGIN {printf "%.3f", m / 1000}')" --range "$RANGE" --step "$STEP" \
  --runs "$RUNS" --avoid-sample-phases --out "$OUT_DIR" 2> >(tee -a "$LOG" >&2))

REPORT="$OUT_DIR/query.md"
{
  echo "## Query benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) — $(nproc) cores, $(uname -sr), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "Dataset: rwgen node-exporter-like, $SERIES active series, $DURATION at $INTERVAL, seed $SEED. Range queries over the last ${RANGE}s at step ${STEP}s; median of $RUNS runs (after one untimed run) per query and system, run round-robin; wall time of POST /api/v1/query_range until the body is read."
  echo
  echo "Versions: $(for s in $SYSTEMS; do printf '%s %s; ' "$s" "${VER[$s]:-n/a}"; done)"
  echo
  echo "$TABLE"
  echo
  echo "Queries: [\`bench/queries.txt\`](../queries.txt). \"lookout = prometheus\": every series, timestamp and value equal within a relative 1e-9 (differences in \`bench/out/diff-*.txt\`)."
} >"$REPORT"
cat "$REPORT"
log "report written to $REPORT"
