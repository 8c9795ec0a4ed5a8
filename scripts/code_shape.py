"""Print the shape of src/likra: package -> package import edges, and the longest functions.

    python scripts/code_shape.py [--top 12]

An edge ``a -> b`` means some module of package ``a`` imports from package ``b`` (top-level
modules such as ``likra/io.py`` count as their own package). Function-local imports count too.
A cycle (``a -> b`` and ``b -> a``) is flagged: the layer rule says imports point down only.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "likra"


def package_of(module: str) -> str:
    """``likra.score.scorer`` -> ``score``; ``likra.io`` -> ``io``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        source = package_of(module_name(path))
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module == "likra" and node.level == 0:
                names = [f"likra.{alias.name}" for alias in node.names]  # from likra import job_progress
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("likra.") or name == "likra":
                    target = package_of(name)
                    if target != source and name != "likra":
                        graph[source].add(target)
    return graph


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body without its signature and docstring (what one reads as logic)."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:] or body
    return node.end_lineno - body[0].lineno + 1


def longest_functions(top: int) -> list[tuple[int, int, str]]:
    """(whole lines, body lines, where) of the longest functions by whole length."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                found.append((lines, body_lines(node), f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    graph = edges()
    print("package imports (a -> b):")
    for source in sorted(graph):
        targets = sorted(graph[source])
        cycles = [t for t in targets if source in graph.get(t, set())]
        flag = f"   CYCLE with {', '.join(cycles)}" if cycles else ""
        print(f"  {source:12s} -> {', '.join(targets)}{flag}")
    print("\nlongest functions (whole lines incl. signature and docstring / body lines):")
    for lines, body, where in longest_functions(args.top):
        print(f"  {lines:4d} / {body:3d}  {where}")


if __name__ == "__main__":
    main()
