#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks formatting and lints, runs
# every test. README's second set-up command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null; then
  echo "cargo is required: install Rust from your distribution or rustup" >&2
  exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
