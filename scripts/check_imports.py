"""Checks the package's own imports, read from the code (every import statement: at module level, in
functions and under `if TYPE_CHECKING:`). Prints each problem; exit code 1 when there is any.

- No import cycle inside tooling/dac. A package's __init__ that imports its submodules counts like
  any module: a submodule that imports a name from its package's __init__ closes a circle.
- No module imports an underscore (private) name from another module.
- The layers of docs/architecture.md hold: the KQL front end (dac.kql) imports nothing else of dac;
  only the command line (dac.cli, and dac.__main__) imports dac.cli; click and rich, the terminal
  libraries, are imported only by the command line and by reports/.

    python scripts/check_imports.py            # every check
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


PRESENTATION_LIBRARIES = ("click", "rich")
PRESENTATION_PACKAGES = ("dac.cli", "dac.reports")


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_problems(importer: str, target: str, where: str) -> list[str]:
    """What the layers forbid of `importer` importing `target` (a module name, of dac or not)."""
    problems = []
    if inside(importer, "dac.kql") and inside(target, "dac") and not inside(target, "dac.kql"):
        problems.append(f"{where}: the KQL front end imports {target}; dac.kql must not depend on the rest of dac")
    if inside(target, "dac.cli") and not inside(importer, "dac.cli") and importer != "dac.__main__":
        problems.append(f"{where}: {importer} imports the command line ({target}); the library must not")
    library = target.split(".")[0]
    if library in PRESENTATION_LIBRARIES and not any(inside(importer, p) for p in PRESENTATION_PACKAGES):
        problems.append(f"{where}: {importer} imports {library}; terminal output belongs in cli/ or reports/")
    return problems


def imports(modules: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the package modules it imports (anywhere in it); private-name imports and layer problems."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    private: list[str] = []
    for name, file in modules.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node in ast.walk(tree):
            where = f"{file.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom):
                target = resolve(name, file, node)
                private += layer_problems(name, target, where)
                if not target.startswith("dac"):
                    continue
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in modules:
                        graph[name].add(submodule)
                    elif target in modules:
                        graph[name].add(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and target != name:
                        private.append(f"{where}: imports private name '{alias.name}' from {target}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    private += layer_problems(name, alias.name, where)
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
    graph, findings = imports(modules)
    private = [f for f in findings if "imports private name" in f]
    layers = [f for f in findings if f not in private]
    problems = list(private)
    if not options.private:
        problems += layers
        problems += [f"import cycle: {' -> '.join(component)}" for component in cycles(graph)]
    for problem in problems:
        print(problem)
    counts = f"{len(private)} private-name imports"
    if not options.private:
        counts += f", {len(layers)} layer breaches, {len(problems) - len(private) - len(layers)} cycles"
    print(f"{len(modules)} modules: {counts}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
