"""``docs/architecture.md`` stays true: its route map lists every route of the app with the module
that defines it (a reader finds any route's module in one hop), and its drawing of the areas names
every area of the server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

import datamint.server
from datamint.server.app import create_app
from datamint.server.config import Settings
from datamint.server.transport.routes import iter_routes

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
SERVER = Path(datamint.server.__file__).parent
ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| `([^`]+)` \|$")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app on SQLite only: its routes do not depend on the database."""
    built = create_app(Settings(data_dir=tmp_path_factory.mktemp("doc-app"), mlflow_warmup=False))
    yield built
    built.state.database.dispose()


def _app_routes(app) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    rows = set()
    for route in iter_routes(app.routes):
        if isinstance(route, APIRoute):
            module = route.endpoint.__module__.removeprefix("datamint.server.").replace(".", "/") + ".py"
            rows |= {(method, route.path, module) for method in route.methods - {"HEAD"}}
    return rows


def _documented() -> list[tuple[str, str, str]]:
    return [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]  # type: ignore[misc]


def test_the_route_map_is_the_apps_routes(app):
    documented = _documented()
    assert len(documented) == len(set(documented)), "a route is listed twice"
    actual = _app_routes(app)
    assert len(actual) > 150
    assert set(documented) - actual == set(), "listed in docs/architecture.md but not served"
    assert actual - set(documented) == set(), "served but missing from docs/architecture.md (regenerate the map)"
    for _, _, module in documented:
        assert (SERVER / module).is_file(), module


def test_the_drawing_names_every_area():
    drawing = DOC.read_text().split("## The server's areas, bottom up", 1)[1].split("```")[1]
    areas = {p.name for p in SERVER.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    areas |= {p.stem for p in SERVER.glob("*.py") if p.stem not in ("__init__",)}
    words = set(re.findall(r"[a-z_]+", drawing))
    assert areas - words == set(), "areas missing from the drawing in docs/architecture.md"
