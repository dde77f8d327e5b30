"""The package layout is the pipeline: imports between the stages run one way only
(run/files → data → models → training → inference → evaluation → api; demo beside models), the image
side never imports the rule engine, and evaluating or predicting never loads the training loop."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2] / "classifier"
# Lower ranks may not import higher ones; equal ranks are the same stage.
RANKS = {"run": 0, "files": 0, "data": 1, "models": 2, "demo": 2, "training": 3}
RANKS |= {"inference": 4, "evaluation": 5, "api": 6}


def _modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in ROOT.rglob("*.py")
    }


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but the bodies of `if TYPE_CHECKING:` (names for type checkers only: the
    package facades import nothing when loaded)."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(path: Path) -> set[str]:
    """Every module a file imports at run time, `from x import y` counted as x and as x.y."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = _modules()
GRAPH = {name: {m for m in _imports(path) if m in MODULES} for name, path in MODULES.items()}


def _stage(module: str) -> str:
    return module.split(".")[1] if module != "classifier" else "run"


def _reach(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_every_stage_has_a_rank() -> None:
    assert {_stage(m) for m in MODULES} <= set(RANKS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module: str) -> None:
    upward = [m for m in GRAPH[module] if RANKS[_stage(m)] > RANKS[_stage(module)]]
    assert not upward, f"{module} imports a later stage: {upward}"
    if _stage(module) == "demo":
        assert not [m for m in GRAPH[module] if _stage(m) in ("models", "training")]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_image_side_never_imports_the_rule_engine(module: str) -> None:
    assert not [m for m in _imports(MODULES[module]) if m.split(".")[0] == "labeler"]


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if _stage(m) in ("inference", "evaluation"))
)
def test_using_a_run_does_not_load_the_training_loop(module: str) -> None:
    if module == "classifier.evaluation.grid":  # the grid trains its cells
        return
    assert "classifier.training.loop" not in _reach(module)
