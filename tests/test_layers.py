"""The layer rule of docs/design.md, checked on the source: every import points down.

Each package (a top-level module counts as one) has a rank; a module may import only from
packages of a lower rank (function-level imports included). ``training`` and ``score`` share a
rank, so neither imports the other. A new package must be given its place here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

RANKS = {
    "distributed": 0,
    "errors": 1,
    "config": 1,
    "methods": 1.5,
    "layout": 2,
    "metrics": 2,
    "io": 3,
    "tracking": 3,
    "job_progress": 4,
    "model": 4,
    "data": 4,
    "rundir": 4,
    "lm": 5,
    "training": 6,
    "score": 6,
    "generation": 6.5,
    "experiments": 7,
    "reporting": 8,
    "harness_tasks": 8,
    "harness": 9,
    "api": 9,
    "cli": 10,
    "__main__": 11,
}


def package_edges() -> dict[str, set[str]]:
    path = Path(__file__).resolve().parents[1] / "scripts" / "code_shape.py"
    spec = importlib.util.spec_from_file_location("code_shape", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.edges()


def test_every_import_points_down() -> None:
    graph = package_edges()
    packages = set(graph) | {b for targets in graph.values() for b in targets}
    assert packages <= set(RANKS), f"place these packages in RANKS: {sorted(packages - set(RANKS))}"
    upward = sorted((a, b) for a, targets in graph.items() for b in targets if RANKS[b] >= RANKS[a])
    assert not upward, f"imports that do not point down: {upward}"
    assert "score" not in graph.get("training", set()) and "training" not in graph.get("score", set())
