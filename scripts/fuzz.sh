#!/usr/bin/env bash
# Fuzzes the protocol engine's codec (src/engine) with libFuzzer.
#   scripts/fuzz.sh [TARGET] [SECONDS]     TARGET: decode (default), roundtrip or negotiate
# Needs a nightly toolchain (rustup toolchain install nightly). Uses cargo-fuzz when
# installed, else builds with the flags cargo-fuzz passes. The corpus is kept in
# fuzz/corpus/TARGET, crashes in fuzz/artifacts/TARGET.
# On stable, `cargo test --manifest-path fuzz/Cargo.toml` replays random inputs through
# the same code (no coverage guidance).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:-decode}
seconds=${2:-60}
mkdir -p "corpus/$target" "artifacts/$target"
if cargo fuzz --help >/dev/null 2>&1; then
  exec cargo +nightly fuzz run "$target" -- -max_total_time="$seconds"
fi
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
cargo +nightly build --release --bin "$target" --target "$triple"
"target/$triple/release/$target" -max_total_time="$seconds" \
  -artifact_prefix="artifacts/$target/" "corpus/$target"
