#!/usr/bin/env bash
# Runs the Autobahn conformance cases (with kosoku) against the echo example's full echo
# view at `/`, and compares the verdicts with tests/autobahn/expected.json.
#   scripts/autobahn.sh            check
#   scripts/autobahn.sh --write    record this run in the expected file (refused while
#                                  anything regressed or the run is partial)
# The cases not run are the "excluded" patterns of the expected file, the one list.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${WSVIEW_PYTHON:-.venv/bin/python}
kosoku=$(dirname "$py")/kosoku
out=target/autobahn
rm -rf "$out" && mkdir -p "$out"

cargo build --release --example echo
: > "$out/server.log" # exists before the server's shell opens it: the loop reads it at once
./target/release/examples/echo 127.0.0.1:0 > "$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
# The example prints its address first; wait for that line (bounded).
for _ in $(seq 1 100); do
  addr=$(sed -n 's|^wsview echo example serving on http://||p' "$out/server.log")
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$out/server.log"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "echo example did not start"; cat "$out/server.log"; exit 1; }
echo "autobahn: running kosoku against $addr"
expected=tests/autobahn/expected.json
read -r -a exclude <<< "$("$py" scripts/autobahn_check.py --exclude-args "$expected")"
# A failing runner still leaves a report (or none): the check below judges it.
"$kosoku" -p 2 "${exclude[@]}" -o "$out/report" "$addr" > "$out/kosoku.log" 2>&1 || true
tail -n 1 "$out/kosoku.log"
"$py" scripts/autobahn_check.py "$out/report/index.json" "$expected" "$@"
