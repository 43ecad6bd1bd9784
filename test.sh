#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks formatting and lints, runs
# every test. README's second set-up command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null; then
  echo "cargo is required: install Rust from your distribution or rustup" >&2
  exit 1
fi

# tests/scrape_node_exporter.rs scrapes Debian's node exporter; the scraper's TLS test
# makes certificates and a TLS server with openssl. Install them when missing: as root
# directly, otherwise through sudo without a password prompt.
missing=""
[ -x /usr/bin/prometheus-node-exporter ] || missing="$missing prometheus-node-exporter"
# tests/rules_promtool.rs runs the rule unit tests under Debian's promtool too.
[ -x /usr/bin/promtool ] || missing="$missing prometheus"
# tests/rules_alertmanager.rs delivers alerts through Debian's Alertmanager.
[ -x /usr/bin/prometheus-alertmanager ] || missing="$missing prometheus-alertmanager"
command -v openssl >/dev/null || missing="$missing openssl"
# tests/log_ingest.rs sends syslog with util-linux's logger and OTLP logs with the Python
# OpenTelemetry SDK (no Debian package: installed from PyPI into a venv under target/).
command -v logger >/dev/null || missing="$missing bsdutils"
/usr/bin/python3 -c "import venv, ensurepip" 2>/dev/null || missing="$missing python3-venv"
# tests/ui.rs drives the web UI in Debian's headless Chromium.
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq $missing
  else
    sudo -n apt-get update -qq && sudo -n apt-get install -y -qq $missing
  fi
fi

otel_venv=target/otel-venv
# opentelemetry-exporter-zipkin-proto-http is left out: it pins protobuf 3.x, which the
# OTLP exporters (protobuf >= 5) cannot share a venv with.
if ! "$otel_venv/bin/python" -c "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.zipkin.json" 2>/dev/null; then
  /usr/bin/python3 -m venv "$otel_venv"
  "$otel_venv/bin/pip" install -q opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-zipkin-json
fi

# The UI's toolchain (tests/ui.rs rebuilds the bundle and runs ui/e2e with playwright-core).
if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  (cd ui && npm ci --no-audit --no-fund)
fi
export LOOKOUT_UI_TESTS_REQUIRED=1

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
