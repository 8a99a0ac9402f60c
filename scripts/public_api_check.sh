#!/usr/bin/env bash
# Fails if a type of tungstenite, tokio-tungstenite or http-body-util appears in wsview's
# public API. Those crates are documented next to wsview, so rustdoc links every type of
# theirs in a wsview signature to their pages; examples and prose are never linked, so a
# link from wsview's pages to them can only come from the public API. (The "Blanket
# Implementations" section is skipped: http-body-util's `impl<B: Body> BodyExt for B`
# is listed under every body type without being part of wsview's API.)
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/doc/wsview
cargo doc --no-deps --quiet --features test-util -p wsview -p tungstenite -p tokio-tungstenite -p http-body-util
python3 - <<'PY'
import pathlib, re, sys
leaks = set()
for page in pathlib.Path("target/doc/wsview").rglob("*.html"):
    html = page.read_text(encoding="utf-8")
    html = html.split('id="blanket-implementations"')[0]
    for href in re.findall(r'href="(?:\.\./)+((?:tokio_tungstenite|tungstenite|http_body_util)/[^"]*)"', html):
        leaks.add(f"{page.relative_to('target/doc')}: {href}")
if leaks:
    print("engine or http-body-util types in wsview's public API:", file=sys.stderr)
    print("\n".join(sorted(leaks)), file=sys.stderr)
    sys.exit(1)
print("no tungstenite or http-body-util type in the public API")
PY
