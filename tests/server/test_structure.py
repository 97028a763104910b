"""The server's structure, read from its source with ``ast``: requests commit once (no router calls
``commit()``; ``deps.UnitOfWork`` does, when the route returns without error)."""

from __future__ import annotations

import ast
from pathlib import Path

import datamint.server

SERVER = Path(datamint.server.__file__).parent


def _modules() -> list[Path]:
    return sorted(p for p in SERVER.rglob("*.py") if "migrations" not in p.parts)


def _is_router(path: Path) -> bool:
    return path.stem == "router" or path.stem.endswith("_router")


def _commits(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]


def test_the_router_modules_are_found():
    routers = {str(p.relative_to(SERVER)) for p in _modules() if _is_router(p)}
    assert {"projects/router.py", "resources/router.py", "auth/keys_router.py", "jobs/router.py"} <= routers
    assert len(routers) >= 15


def test_no_router_commits():
    found = {str(p.relative_to(SERVER)): _commits(ast.parse(p.read_text())) for p in _modules() if _is_router(p)}
    assert {name: lines for name, lines in found.items() if lines} == {}, \
        "routers never commit: take the session as deps.UnitOfWork, which commits once when the route returns"


def test_the_commit_check_sees_a_commit():
    tree = ast.parse("def route(session):\n    session.add(x)\n    session.commit()\n")
    assert _commits(tree) == [3]
