"""Import cycles among the modules of the semcse package, found statically.

Every ``import`` and ``from ... import`` in a module counts, wherever it stands: at the top, inside
a function (a lazy import) or under ``if TYPE_CHECKING:``, so a circle that only works because one
side imports late is still a circle. ``from a.b import c`` depends on the module ``a.b.c`` when
there is one, else on ``a.b``; ``importlib.import_module("...")`` with a literal name counts too.
The parent packages that Python runs on the way to a module are not counted (a package's
``__init__`` that re-exports its submodules is not a circle with them).

    python scripts/import_cycles.py            # prints each cycle and exits 1, or says there is none
    python scripts/import_cycles.py --edges    # also prints every import edge found

``tests/test_imports.py`` runs :func:`find_cycles` on the package.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = "semcse"
SRC = Path(__file__).resolve().parents[1] / "src"


def module_files(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of the package."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(module: str, path: Path, modules: dict[str, Path], package: str = PACKAGE) -> dict[str, int]:
    """``{imported module of the package: line}`` for one module (the first line that imports it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        # the longest prefix of `target` that is a module of the package
        parts = target.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        name = ".".join(parts)
        if name and name != module:
            found.setdefault(name, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == package:
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, is_package, node.level, node.module) if node.level else (node.module or "")
            if base.split(".")[0] != package:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in modules else base, node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and node.args[0].value.split(".")[0] == package):
            add(node.args[0].value, node.lineno)
    return found


def import_graph(src: Path = SRC, package: str = PACKAGE) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line}}`` over the whole package."""
    modules = module_files(src, package)
    return {m: imports_of(m, p, modules, package) for m, p in modules.items()}


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def _shortest_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """One shortest cycle through the first module of a component, as a closed path."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return list(reversed(path)) + [start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start]


def find_cycles(src: Path = SRC, package: str = PACKAGE) -> list[str]:
    """One line per import cycle (a strongly connected group of modules), empty when there is none.

    Each line names the modules of the group and one cycle through it with the line of each import,
    e.g. ``a.py:12 -> b.py:3 -> a.py``.
    """
    graph = import_graph(src, package)
    files = module_files(src, package)
    lines = []
    for component in _strongly_connected(graph):
        cycle = _shortest_cycle(graph, component)
        steps = []
        for here, there in zip(cycle, cycle[1:]):
            steps.append(f"{files[here].relative_to(src)}:{graph[here][there]}")
        steps.append(str(files[cycle[-1]].relative_to(src)))
        lines.append(f"{len(component)} modules import each other ({', '.join(component)}): " + " -> ".join(steps))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", action="store_true", help="print every import edge too")
    args = parser.parse_args(argv)
    if args.edges:
        for module, targets in sorted(import_graph().items()):
            for target, line in sorted(targets.items()):
                print(f"{module}:{line} -> {target}")
    cycles = find_cycles()
    for line in cycles:
        print(line)
    if not cycles:
        print(f"no import cycle among the {len(module_files())} modules of {PACKAGE}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
