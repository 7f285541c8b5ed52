"""Checks the package's own imports: no import cycle inside tooling/dac, and no module importing an
underscore (private) name from another module. Prints each problem; exit code 1 when there is any.

    python scripts/check_imports.py            # both checks
    python scripts/check_imports.py --private  # only the private-name imports
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tooling" / "dac"


def module_name(file: Path) -> str:
    parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, file: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if file.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports(modules: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the package modules it imports at module level or in functions; private-name imports."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    private: list[str] = []
    for name, file in modules.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = resolve(name, file, node)
                if not target.startswith("dac"):
                    continue
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in modules:
                        graph[name].add(submodule)
                    elif target in modules:
                        graph[name].add(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and target != name:
                        where = f"{file.relative_to(ROOT)}:{node.lineno}"
                        private.append(f"{where}: imports private name '{alias.name}' from {target}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        graph[name].add(alias.name)
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
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
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--private", action="store_true", help="check only the private-name imports")
    options = parser.parse_args()
    modules = {module_name(file): file for file in sorted(PACKAGE.rglob("*.py"))}
    graph, private = imports(modules)
    problems = list(private)
    if not options.private:
        # A package importing its own submodules (its __init__ re-exporting them) is not a cycle to report.
        trimmed = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}
        problems += [f"import cycle: {' -> '.join(component)}" for component in cycles(trimmed)]
    for problem in problems:
        print(problem)
    print(f"{len(modules)} modules: {len(private)} private-name imports"
          + ("" if options.private else f", {len(problems) - len(private)} cycles"))  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
