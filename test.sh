#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks formatting and lints, runs
# every test. README's second set-up command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null; then
  echo "cargo is required: install Rust from your distribution or rustup" >&2
  exit 1
fi

# tests/scrape_node_exporter.rs scrapes Debian's node exporter. Install it when missing:
# as root directly, otherwise through sudo without a password prompt.
if [ ! -x /usr/bin/prometheus-node-exporter ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq prometheus-node-exporter
  else
    sudo -n apt-get update -qq && sudo -n apt-get install -y -qq prometheus-node-exporter
  fi
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
