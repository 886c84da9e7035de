"""Do imports in kerasbench/ flow one way? Lists every import cycle between its modules, and every import
of the command-line layers (stages/, scripts/, and kerasbench/cli/ from outside it) from the library.

    kerasbench imports [--graph]

Reads the source with `ast` (imports inside functions count too: a cycle hidden in a function is
still a cycle), so it imports nothing. Exit status 1 when a cycle or an upward import exists;
`--graph` prints each module with what it imports. tests/test_lint.py runs it.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from kerasbench import cli

ROOT = cli.checkout()
PACKAGE = "kerasbench"
UPWARD = ("stages", "scripts", "tests")
CLI = f"{PACKAGE}.cli"   # the `kerasbench` command: it imports the library, never the other way


def is_upward(importer: str, target: str) -> bool:
    if target.split(".")[0] in UPWARD:
        return True
    outside = importer != f"{PACKAGE}.__main__" and not (importer == CLI or importer.startswith(f"{CLI}."))
    return outside and (target == CLI or target.startswith(f"{CLI}."))


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """Every absolute module name this file imports (for `from a import b`: a.b when that is a module, else a)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def graph(root: Path = ROOT) -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """(module -> the project modules it imports, [(module, upward import)])."""
    known = modules(root)
    edges, upward = {}, []
    for name, path in known.items():
        targets = imported(path)
        edges[name] = {t for t in targets if t in known and t != name}
        upward += [(name, t) for t in sorted(targets) if is_upward(name, t)]
    return edges, upward


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), as a sorted list."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("imports", __doc__)
    parser.add_argument("--graph", action="store_true", help="print every module and what it imports")
    args = parser.parse_args(argv)
    edges, upward = graph()
    if args.graph:
        for name in sorted(edges):
            print(f"{name}: {', '.join(sorted(edges[name])) or '-'}")
    found = cycles(edges)
    for group in found:
        print(f"cycle: {' <-> '.join(group)}")
    for name, target in upward:
        print(f"upward import: {name} imports {target}")
    if not found and not upward:
        print(f"imports flow one way: {len(edges)} modules in {PACKAGE}/, no cycle, nothing from "
              f"{', '.join(UPWARD)}, nothing from {CLI} outside it")
    return 1 if found or upward else 0


if __name__ == "__main__":
    sys.exit(main())
