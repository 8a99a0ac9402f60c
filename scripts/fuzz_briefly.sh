#!/usr/bin/env bash
# Fuzzes the handshake and the REST-over-WebSocket message parser briefly with libFuzzer:
#   scripts/fuzz_briefly.sh [SECONDS per target, default 30] [TARGET…]
# Targets: handshake, api_message (fuzz/fuzz_targets/, logic in fuzz/harden/). Needs a
# nightly toolchain (rustup toolchain install nightly); uses cargo-fuzz when installed,
# else builds with the flags cargo-fuzz passes. Corpus in fuzz/corpus/TARGET (seeded
# from the targets' seeds), crashes in fuzz/artifacts/TARGET. On stable,
# tests/fuzz_replay.rs runs the same checks on random mutations (part of scripts/test).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(handshake api_message)
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  case $target in
    handshake)
      printf 'GET /ws\nHost: h\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\nOrigin: http://h\n' \
        >"corpus/$target/seed" ;;
    api_message)
      printf '%s' '{"id": 1, "method": "post", "url": "/a/7?x=1", "data": {"k": [1]}, "token": "t", "headers": {"X-A": ["1", 2]}}' \
        >"corpus/$target/seed" ;;
  esac
  echo "== fuzzing $target for ${seconds}s"
  if cargo fuzz --help >/dev/null 2>&1; then
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds"
    continue
  fi
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo +nightly build --release --bin "$target" --target "$triple"
  "target/$triple/release/$target" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$target/" "corpus/$target"
done
