"""The routes a request may match, found by its path's first segments (``onewindow.route_index``): the route
found is the one the router's own loop finds, and the answers are the loop's."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match

from onewindow import route_index
from onewindow.app import API, create_app
from onewindow.route_index import RouteIndex, path_prefixes, route_key, route_prefix

ENT = "91210200MA0QK1P3AF"
METHODS = ("GET", "POST", "PATCH", "DELETE", "HEAD")


def _scope(method: str, path: str, root_path: str = "") -> dict:
    return {"type": "http", "method": method, "path": root_path + path, "root_path": root_path,
            "query_string": b"", "headers": []}


def _first_match(routes: list[BaseRoute], scope: dict) -> tuple[BaseRoute | None, Match]:
    """The router loop's choice: the first route matching in full, else the first matching but for the method."""
    partial = None
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match == Match.FULL:
            return route, match
        if match == Match.PARTIAL and partial is None:
            partial = route
    return partial, Match.PARTIAL if partial else Match.NONE


def _paths(app) -> list[str]:
    """A path for each route's pattern, and near misses: a trailing slash, one segment more, one less."""
    paths = set()
    for route in app.routes:
        for path in [getattr(route, "path", None), *(getattr(r, "path", None) for r in getattr(route, "routes", []))]:
            if not path:
                continue
            made = re.sub(r"{[^}]+}", "x1", path)
            paths |= {made, made + "/", made + "/more", made.rsplit("/", 1)[0], made.upper()}
    return sorted(paths | {"/", "", "/api", "/api/v1", "/api/v1/", "/static/pico.min.css", "/nothing/at/all/here"})


def test_the_route_found_is_the_one_the_routers_loop_finds(app):
    index = RouteIndex(app.router)
    found = set()
    for path in _paths(app):
        for method in METHODS:
            for root_path in ("", "/window"):
                scope = _scope(method, path, root_path)
                candidates = index.candidates(path)
                chosen = _first_match(app.routes, scope)
                assert _first_match(candidates, scope) == chosen, (method, path)
                found.add((id(chosen[0]), chosen[1]))
    assert {(id(r), Match.FULL) for r in app.routes if getattr(r, "path", "").startswith(API)} <= found
    assert any(match == Match.PARTIAL for _, match in found)


def test_api_routes_are_keyed_by_their_first_three_segments(app):
    keys = {route_key(r) for r in app.routes if getattr(r, "path", "").startswith(API)}
    assert keys == {f"{API}/{segment}" for segment in ("me", "organisations", "filings", "declarations", "inspections",
                                                      "terminal", "containers", "events", "webhooks", "refdata",
                                                      "public")}
    assert route_key(next(r for r in app.routes if getattr(r, "path", "") == "/openapi.json")) == "/openapi.json"


@pytest.mark.parametrize(("path", "key"), [
    ("/api/v1/refdata/{table}", "/api/v1/refdata"), ("/api/{version}/me", None), ("/api/v1/{what}", None),
    ("/docs/oauth2-redirect", "/docs/oauth2-redirect"), ("/api/v1/terminal/tasks", "/api/v1/terminal"),
])
def test_a_route_is_keyed_only_when_its_literal_beginning_holds_the_segments(path, key):
    from starlette.routing import Route

    assert route_key(Route(path, lambda request: None)) == key


@pytest.fixture
def looping(db, settings, clock, monkeypatch):
    """The application finding routes with the router's own loop."""
    monkeypatch.setattr(route_index, "install", lambda router: None)
    return create_app(settings, clock=clock, engine=db)


def test_page_routes_are_keyed_too(app):
    from onewindow.web.routing import PageRoute

    index = RouteIndex(app.router)
    pages = [r for r in app.routes if type(r) is PageRoute]
    assert pages and all((route_key(r) is None) != (route_prefix(r) is None) for r in pages)
    assert route_key(next(r for r in pages if r.path == "/terminal/tasks")) == "/terminal/tasks"
    workbench = next(r for r in pages if r.path == "/customs/declarations/{declaration_id}")
    assert route_prefix(workbench) == "/customs/declarations"
    assert index.candidates("/customs/declarations/x1") == index.prefixed["/customs/declarations"]
    assert workbench in index.candidates("/customs/declarations/x1")
    assert workbench not in index.candidates("/ciq/declarations/x1")
    assert [r.path for r in index.others] == ["/static"]  # no router, no page


@pytest.mark.parametrize(("path", "prefix"), [
    ("/customs/declarations/{declaration_id}", "/customs/declarations"), ("/lookup/{table}", "/lookup"),
    ("/files/report-{day}", "/files"), ("/{anything}", None), ("/api/v1/filings/{filing_id}", None),
    ("/login", None),
])
def test_a_route_without_a_key_is_listed_under_the_whole_segments_before_its_first_parameter(path, prefix):
    from starlette.routing import Route

    assert route_prefix(Route(path, lambda request: None)) == prefix


@pytest.mark.parametrize(("path", "prefixes"), [
    ("/a/b/c/d", ("/a", "/a/b")), ("/a/b", ("/a", "/a/b")), ("/a", ("/a",)), ("/a/", ("/a", "/a/")),
])
def test_path_prefixes(path, prefixes):
    assert path_prefixes(path) == prefixes


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/nothing/at/all", "/api/v1/filings/x1/nothing",
                                  "/terminal/nothing/"])
def test_a_path_no_route_matches_asks_only_the_routes_listed_for_it(app, world, monkeypatch, path):
    """A 404 asks the routes listed for its path and for the path with or without a trailing slash, not every
    route of the application once for the path and once more for the other path."""
    asked = []
    for route in app.routes:
        monkeypatch.setattr(route, "matches", lambda scope, m=route.matches, r=route: asked.append(r) or m(scope),
                            raising=False)
    with TestClient(app) as client:
        answer = client.get(path, headers=world.headers(ENT), follow_redirects=False)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    index = app.router.middleware_stack
    listed = {id(r) for other_form in (path, path.rstrip("/") if path.endswith("/") else path + "/")
              for r in index.candidates(other_form)}
    assert {id(r) for r in asked} <= listed < {id(r) for r in app.routes}
    assert len(asked) <= 2 * len(listed)  # once for the path, once for the path with(out) the trailing slash


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/terminal/tasks"), ("GET", "/terminal/tasks/"), ("POST", "/terminal/tasks"), ("GET", "/terminal/x"),
    ("GET", "/customs/declarations/x1"), ("GET", "/customs/declarations/x1/"), ("GET", "/login/"),
    ("GET", "/api/v1/me"), ("GET", "/api/v1/me/"), ("DELETE", "/api/v1/me"), ("GET", "/api/v1/me%0A"),
    ("GET", "/api/v1/terminal/tasks?status=open"), ("POST", "/api/v1/terminal/tasks"),
    ("GET", "/api/v1/inspections/x1/results"), ("GET", "/api/v1/nothing"), ("GET", "/openapi.json"),
    ("GET", "/openapi.json/"), ("GET", "/docs"), ("GET", "/healthz/"), ("GET", "/static/nothing.css"),
    ("GET", "/api/v1/refdata/countries"), ("GET", "/api/v1/public/clearance-times.csv"), ("GET", "/nothing"),
])
def test_answers_are_those_of_the_routers_loop(app, looping, world, method, path):
    answers = []
    for application_ in (app, looping):
        with TestClient(application_) as client:
            answer = client.request(method, path, headers=world.headers(ENT), follow_redirects=False)
        answers.append((answer.status_code, answer.headers.get("allow"), answer.headers.get("location"),
                        answer.content if path.startswith(API) else None))
    assert answers[0] == answers[1]


def test_a_route_added_later_is_found(app, world):
    @app.get(API + "/me/later")
    async def later() -> dict:
        return {"later": True}

    with TestClient(app) as client:
        assert client.get(API + "/me/later").json() == {"later": True}
        assert client.get(API + "/me", headers=world.headers(ENT)).status_code == 200
