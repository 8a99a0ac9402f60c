#!/usr/bin/env bash
# Fails if a type of tokio-tungstenite/tungstenite or http-body-util appears in wsview's
# public API. rustdoc links every type in a public signature to its crate's docs; links
# from wsview's pages to those crates can only come from signatures (examples and prose
# are not linked), so grepping the generated pages for them finds any leak.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/doc/wsview
cargo doc --no-deps --quiet
leaks=$(grep -rhoE 'href="[^"]*(tokio_tungstenite|tungstenite|http_body_util)/[^"]*"' target/doc/wsview | sort -u || true)
if [ -n "$leaks" ]; then
  echo "engine or http-body-util types in wsview's public API:" >&2
  echo "$leaks" >&2
  exit 1
fi
echo "no tungstenite or http-body-util type in the public API"
