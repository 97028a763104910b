"""The server's structure, read from its source with ``ast``: areas depend one way (no import of a
higher area, no import inside a function), and requests commit once (no router calls ``commit()``;
``deps.UnitOfWork`` does, when the route returns without error).

The order is the one ``docs/architecture.md`` draws; a new area must be placed in :data:`LAYERS`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import datamint.server

SERVER = Path(datamint.server.__file__).parent


#: The server's areas from the bottom up. A module may import modules of its own layer and of
#: lower layers only. Routers (``router.py``,
#: ``*_router.py``) compose the areas: they sit in the ``routers`` layer, above every area.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "config", "identity", "common", "storage", "db"),  # the kernel
    ("policy",),  # who may do what (from the caller's identity only)
    ("auth",),  # organizations, users, API keys, web sessions
    ("audit",),
    ("workunits",),  # time spent per item, recorded by annotations and the workflow
    ("projects",),
    ("resources",),  # owns the project <-> resource link
    ("worklists",),  # worklists and their label schemas
    ("annotations",),  # checked against their worklist's labels
    ("workflow",),  # progress, statistics, exports over a worklist's annotations
    ("datasets",),
    ("flows",),  # what spans areas: creating a project, its wire shape
    ("invitations",),
    ("jobs",),
    ("dicomweb", "dimse"),
    ("operator",),
    ("deps",),  # the request's session, caller and unit of work
    ("formats", "models", "quality"),  # their route modules live beside their services
    ("routers", "transport"),  # transport: the HTTP gate that reads the routes (body kinds, who needs a caller)
    ("pages", "webapp"),
    ("app",),
    ("worker",),
]
#: The table registry imports every area's models so that Alembic sees all tables.
REGISTRY = "db.models"
RANK = {area: rank for rank, layer in enumerate(LAYERS) for area in layer}
#: The imports inside a function that stay, each within its own area and for a stated reason.
LAZY = {
    ("models/mlflow_backend.py", "models.artifacts.BlobStoreArtifactRepository"):
        "loads mlflow (heavy; it reconfigures Alembic's logging) only when the MLflow stores are first used",
}
#: Modules ranked apart from their area: the client-address helpers of ``transport`` are pure and
#: serve ``config`` and ``deps``.
MODULE_RANK = {"transport.clients": 0}


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


#: The modules that may call ``commit()``: the unit of work and the database's own machinery, and
#: the uploads' documented early commits (``docs/architecture.md``, "One commit per request").
#: Anything else a request or a job writes commits through them (``unit_of_work.after_read`` and
#: ``write_apart`` for the writes a read causes).
COMMITTING_MODULES = {
    "db/unit_of_work.py", "db/session.py", "db/migrate.py",
    "resources/ingest.py", "resources/batch_ingest.py", "resources/dicom_index.py", "resources/janitor.py",
}


def test_only_the_unit_of_work_commits():
    found = {str(p.relative_to(SERVER)): _commits(ast.parse(p.read_text())) for p in _modules()}
    assert {name: lines for name, lines in found.items() if lines and name not in COMMITTING_MODULES} == {}, \
        "commit through the unit of work (deps.UnitOfWork, Database.transaction, unit_of_work.after_read/write_apart)"


def test_the_commit_check_sees_a_commit():
    tree = ast.parse("def route(session):\n    session.add(x)\n    session.commit()\n")
    assert _commits(tree) == [3]


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(SERVER).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _rank(module: str) -> int:
    """The layer of a ``datamint.server``-relative dotted module name."""
    if module == REGISTRY:
        return len(LAYERS)
    for name, rank in MODULE_RANK.items():
        if module == name or module.startswith(name + "."):
            return rank
    if module.rsplit(".", 1)[-1] == "router" or module.endswith("_router"):
        return RANK["routers"]
    area = module.split(".", 1)[0]
    assert area in RANK, f"{area!r} is not placed in LAYERS (tests/server/test_structure.py)"
    return RANK[area]


def _server_imports(path: Path, source: str) -> list[tuple[int, str, bool]]:
    """(line, imported name relative to ``datamint.server``, inside a function?) of a module."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = _dotted(path).split(".") if path.name == "__init__.py" else _dotted(path).split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - node.level + 1]
                base = ".".join(["datamint", "server", *up, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        inside, parent = False, parents.get(node)
        while parent is not None:
            inside = inside or isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef))
            parent = parents.get(parent)
        found += [(node.lineno, name.removeprefix("datamint.server."), inside)
                  for name in names if name.startswith("datamint.server.")]
    return found


def _violations(modules: dict[Path, str]) -> tuple[list[str], list[str]]:
    """(upward imports, imports inside functions) of the modules given as ``{path: source}``."""
    upward, in_function = [], []
    for path, source in modules.items():
        here = _dotted(path)
        if not here:
            continue
        for line, target, inside in _server_imports(path, source):
            where = f"{path.relative_to(SERVER)}:{line} imports {target}"
            if inside and (str(path.relative_to(SERVER)), target) not in LAZY:
                in_function.append(where)
            if _rank(target) > _rank(here):
                upward.append(where)
    return upward, in_function


def test_the_lazy_imports_stay_within_their_area():
    for (module, target), reason in LAZY.items():
        assert module.split("/", 1)[0] == target.split(".", 1)[0] and reason


def test_every_area_is_placed_in_the_order():
    areas = {_dotted(p).split(".", 1)[0] for p in _modules() if _dotted(p)}
    assert areas - set(RANK) == set()


def test_areas_import_downward_only_and_at_the_top():
    upward, in_function = _violations({path: path.read_text() for path in _modules()})
    assert upward == [], "an area imports one of the same or a higher layer (move the code, or compose it in flows/)"
    assert in_function == [], "imports sit at the top of the module, never inside a function"


def test_the_import_check_sees_an_upward_and_a_hidden_import():
    probe = SERVER / "projects" / "probe.py"  # a module that does not exist: only its source is read
    source = ("from datamint.server.db.base import utcnow\n"
              "from datamint.server.worklists import service\n"
              "def f():\n    from datamint.server.resources import repository\n")
    upward, in_function = _violations({probe: source})
    assert upward == ["projects/probe.py:2 imports worklists.service",
                      "projects/probe.py:4 imports resources.repository"]
    assert in_function == ["projects/probe.py:4 imports resources.repository"]
