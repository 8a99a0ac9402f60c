#!/usr/bin/env python3
"""Fails if files of src/ import each other in a cycle, if the core imports a feature, or
if a feature adds inherent methods to a type it does not define.

Edges are the `crate::`, `super::` and `self::` paths each file names in code (comments,
doc comments and doc attributes are skipped), resolved to the file that defines the module named. A
`mod x;` declaration is not an edge: a parent declaring its children does not use them.
So that edges point at the file defining an item, code inside the crate imports from the
defining module (`crate::websocket::socket::WebSocket`), never through a re-export.

Usage: scripts/import_cycles.py [--edges]   (run from the repository root)
"""

import os
import re
import sys

SRC = "src"
# Features use the core and are never used by it.
FEATURES = ("api_socket", "blocking", "groups", "handler", "test")


def module_of(path):
    """src/a/b.rs -> ['a', 'b']; src/a/mod.rs -> ['a']; src/lib.rs -> []."""
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def file_of(module):
    """The file defining the module path, or None."""
    if not module:
        return os.path.join(SRC, "lib.rs")
    base = os.path.join(SRC, *module)
    for candidate in (base + ".rs", os.path.join(base, "mod.rs")):
        if os.path.exists(candidate):
            return candidate
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # Doc attributes (`#[doc = "..."]`, `cfg_attr(.., doc = "...")`) are doc text too.
    text = re.sub(r'\bdoc\s*=\s*"(?:[^"\\]|\\.)*"', 'doc = ""', text, flags=re.S)
    lines = []
    for line in text.splitlines():
        # Good enough for this crate: no `//` inside the string literals of its paths.
        idx = line.find("//")
        lines.append(line if idx < 0 else line[:idx])
    return "\n".join(lines)


def expand_use_tree(tree):
    """'a::{b, c::{d, e}}' -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, rest):
        depth, parts, cur = 0, [], ""
        for ch in rest:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for part in parts:
            brace = part.find("{")
            if brace >= 0 and part.endswith("}"):
                walk(prefix + part[:brace], part[brace + 1 : -1])
            else:
                out.append(prefix + part)

    walk("", tree)
    return out


def paths_in(text):
    """Every module path the code names: use trees and inline `crate::a::b` paths."""
    found = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        found.extend(expand_use_tree(m.group(1)))
    body = re.sub(r"\buse\s+[^;]+;", "", text)
    found.extend(re.findall(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+", body))
    return found


def resolve(path, here, inline=False):
    """The file a path's longest module prefix lives in, or None (external crate).
    `inline`: the path is inside an inline `mod tests { .. }`, one module deeper."""
    segs = [s.split(" as ")[0] for s in path.split("::")]
    segs = [re.sub(r"\bas\b.*", "", s) for s in segs]
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(module_of(here))
        if inline:
            base.append("<inline>")
        # In a.rs (module a), `self` is a and `super` is a's parent.
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        if base and base[-1] == "<inline>":
            return here
    else:
        return None
    for n in range(len(segs), -1, -1):
        f = file_of(base + segs[:n])
        if f:
            return f
    return None


def main():
    files = []
    for root, _dirs, names in os.walk(SRC):
        files.extend(os.path.join(root, n) for n in names if n.endswith(".rs"))
    edges = {f: set() for f in files}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            text = strip_comments(fh.read())
        # This crate's inline modules are its unit tests, at the end of a file.
        m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
        parts = [(text, False)] if not m else [(text[: m.start()], False), (text[m.start() :], True)]
        for part, inline in parts:
            for path in paths_in(part):
                target = resolve(path, f, inline)
                if target and target != f:
                    edges[f].add(target)

    if "--edges" in sys.argv:
        for f in sorted(edges):
            for t in sorted(edges[f]):
                print(f"{f} -> {t}")

    problems = []
    # Cycles (Tarjan's strongly connected components).
    index, low, stack, on, counter, comps = {}, {}, [], set(), [0], []

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    for comp in comps:
        problems.append("import cycle among: " + ", ".join(comp))

    # Imports name the defining file, never the crate root's re-exports.
    root = os.path.join(SRC, "lib.rs")
    for f, targets in sorted(edges.items()):
        if root in targets:
            problems.append(f"{f} imports through the crate root; name the defining module")

    # The feature rule.
    def feature(f):
        rel = os.path.relpath(f, SRC).split(os.sep)[0]
        rel = rel[:-3] if rel.endswith(".rs") else rel
        return rel if rel in FEATURES else None

    for f, targets in sorted(edges.items()):
        if feature(f) or f == os.path.join(SRC, "lib.rs"):
            continue
        for t in sorted(targets):
            if feature(t):
                problems.append(f"core file {f} imports feature file {t}")

    # A feature adds no inherent methods to another folder's types (no `impl Request { .. }`
    # in api_socket/): a type's methods are found in its own files.
    defined = {}
    texts = {}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            texts[f] = strip_comments(fh.read())
        for name in re.findall(r"\b(?:struct|enum|union|trait|type)\s+([A-Z][A-Za-z0-9_]*)", texts[f]):
            defined.setdefault(name, set()).add(f)
    for f in sorted(files):
        if not feature(f):
            continue
        for name in re.findall(r"^impl(?:\s*<[^>{]*>)?\s+([A-Z][A-Za-z0-9_]*)\b[^{;]*?\{", texts[f], re.M):
            header = re.search(r"^impl(?:\s*<[^>{]*>)?\s+" + name + r"\b([^{;]*?)\{", texts[f], re.M)
            if header and " for " in header.group(0):
                continue
            homes = defined.get(name, set())
            if homes and not any(feature(h) == feature(f) for h in homes):
                problems.append(f"{f} adds inherent methods to {name}, defined in {sorted(homes)[0]}")

    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"no import cycles among {len(files)} files of {SRC}/; the core imports no feature")
    return 0


if __name__ == "__main__":
    sys.exit(main())
