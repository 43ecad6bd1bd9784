#!/usr/bin/env bash
# CPU and RSS of `lookout agent` (host metrics every 1 s, forwarding to a local
# `lookout serve`) beside Debian's prometheus-node-exporter scraped every 1 s, side by side
# for N seconds on this machine. Figures come from /proc: CPU seconds (utime + stime) spent
# during the measured window and the largest VmRSS seen in it.
#
#   bench/agent_vs_node_exporter.sh <path/to/lookout> [seconds=60]
#
# Say which build you measured: a debug binary costs several times a release one.
set -euo pipefail

BIN=${1:?usage: $0 <path/to/lookout> [seconds]}
SECS=${2:-60}
EXPORTER=${EXPORTER:-/usr/bin/prometheus-node-exporter}
[ -x "$BIN" ] || { echo "no lookout binary at $BIN" >&2; exit 1; }
[ -x "$EXPORTER" ] || { echo "no node exporter at $EXPORTER (apt-get install prometheus-node-exporter)" >&2; exit 1; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SRV_PORT=$(free_port); AGENT_PORT=$(free_port); NE_PORT=$(free_port)

"$BIN" serve --data "$TMP/server" --listen "127.0.0.1:$SRV_PORT" --otlp-grpc-listen 127.0.0.1:0 \
  --no-self-scrape >"$TMP/server.log" 2>&1 &
PIDS+=($!)
printf 'host_metrics: {interval: 1s}\n' >"$TMP/agent.yaml"
"$BIN" agent --server "http://127.0.0.1:$SRV_PORT" --config "$TMP/agent.yaml" \
  --data "$TMP/agent" --listen "127.0.0.1:$AGENT_PORT" >"$TMP/agent.log" 2>&1 &
AGENT=$!; PIDS+=($AGENT)
"$EXPORTER" --web.listen-address="127.0.0.1:$NE_PORT" >"$TMP/ne.log" 2>&1 &
NE=$!; PIDS+=($NE)

for url in "http://127.0.0.1:$AGENT_PORT/-/ready" "http://127.0.0.1:$NE_PORT/metrics"; do
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$url" && break; sleep 0.2; done
done
sleep 2 # past start-up

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

a0=$(cpu_ticks "$AGENT"); n0=$(cpu_ticks "$NE")
amax=0; nmax=0
for _ in $(seq 1 "$SECS"); do
  curl -sf -o /dev/null "http://127.0.0.1:$NE_PORT/metrics" || true
  a=$(rss_kb "$AGENT"); n=$(rss_kb "$NE")
  [ "$a" -gt "$amax" ] && amax=$a
  [ "$n" -gt "$nmax" ] && nmax=$n
  sleep 1
done
a1=$(cpu_ticks "$AGENT"); n1=$(cpu_ticks "$NE")
sent=$(curl -sf "http://127.0.0.1:$AGENT_PORT/metrics" | awk '/^lookout_agent_sent_batches_total\{signal="metrics"\}/ {print $2}')

echo "window: ${SECS}s, host metrics collected every 1s by both (node exporter scraped by curl)"
printf '%-24s %12s %14s %12s\n' process cpu_seconds cpu_pct_core max_rss_mb
awk -v t="$TICK" -v s="$SECS" -v d="$((a1 - a0))" -v r="$amax" 'BEGIN {printf "%-24s %12.2f %13.2f%% %12.1f\n", "lookout agent", d/t, 100*d/t/s, r/1024}'
awk -v t="$TICK" -v s="$SECS" -v d="$((n1 - n0))" -v r="$nmax" 'BEGIN {printf "%-24s %12.2f %13.2f%% %12.1f\n", "prometheus-node-exporter", d/t, 100*d/t/s, r/1024}'
echo "agent batches acknowledged by the server: ${sent:-0}"
