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
command -v openssl >/dev/null || missing="$missing openssl"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq $missing
  else
    sudo -n apt-get update -qq && sudo -n apt-get install -y -qq $missing
  fi
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
