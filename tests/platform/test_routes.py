"""The API's routes are the application's own: the same routes, documents and answers as included routers."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match, Mount

from onewindow import app as application
from onewindow.app import API, ApiRoute, add_routes, create_app

ENT = "91210200MA0QK1P3AF"


@pytest.fixture
def included(db, settings, clock, monkeypatch):
    """The application with its API routers included as FastAPI includes routers (the general path)."""
    monkeypatch.setattr(application, "add_routes", lambda app, router, prefix: app.include_router(router,
                                                                                                prefix=prefix))
    return create_app(settings, clock=clock, engine=db)


def test_the_openapi_document_is_the_one_of_included_routers(app, included):
    assert app.openapi() == included.openapi()


def test_every_api_route_is_matched_by_the_application_itself(app):
    api = [r for r in app.routes if getattr(r, "path", "").startswith(API)]
    assert api and all(type(r) is ApiRoute and isinstance(r, APIRoute) for r in api)
    assert len(api) == sum(len(router.routes) for router in application.api_routers())


def test_every_page_route_is_matched_by_the_application_itself(app, included):
    """The pages' routes are the application's own, of the pages' route class, each once, in the order that
    included routers give: no router is left among the application's routes."""
    from onewindow.web.routing import PageRoute

    def flat(routes):
        for route in routes:
            if hasattr(route, "original_router"):  # an included router: its routes, in its order
                yield from flat(route.original_router.routes)
            else:
                yield route

    pages = [(r.path, tuple(sorted(r.methods)), r.name) for r in app.routes if type(r) is PageRoute]
    assert pages == [(r.path, tuple(sorted(r.methods)), r.name) for r in flat(included.routes) if type(r) is PageRoute]
    assert len(pages) > 40 and len(set(pages)) == len(pages)
    assert not any(hasattr(r, "original_router") for r in app.routes)
    assert [r.path for r in app.routes if isinstance(r, Mount)] == ["/static"]


def test_a_router_holding_another_router_is_refused(app):
    from fastapi import APIRouter

    inner, outer = APIRouter(), APIRouter()
    inner.get("/x")(lambda: None)
    outer.include_router(inner)
    with pytest.raises(ValueError, match="route by route"):
        add_routes(app, outer, "")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/me/", None),  # a slash too many: redirected
    ("DELETE", "/api/v1/me", None),  # 405 with the methods allowed
    ("GET", "/api/v1/nothing-here", None),
    ("GET", "/api/v1/filings?page_size=0", None),  # 422
    ("POST", "/api/v1/filings", b"{not json"),
    ("GET", "/api/v1/declarations/not-a-uuid", None),
    ("POST", "/api/v1/inspections/not-a-uuid/results", b'{"outcome": "conforming"}'),
    ("GET", "/api/v1/inspections/not-a-uuid/results", None),  # 405: the path is a route's, the method not
    ("POST", "/api/v1/inspections/not-a-uuid/result", b"{}"),  # 404: no route ends so
    ("GET", "/api/v1/refdata/countries", None),
    ("GET", "/api/v1/organisations?kind=customs", None),
    ("GET", "/healthz", None),  # the time differs: status and type only
    ("GET", "/login", None),  # a fresh CSRF token: status and type only
    ("GET", "/terminal/tasks", None),  # a page: to the sign-in page
    ("GET", "/terminal/tasks/", None),  # a page's path with a slash too many: redirected
    ("GET", "/customs/declarations/x1", None),  # a page of the agencies' workbench
    ("POST", "/ciq/inspections/x1/check-in", None),  # an action of the agencies' workbench
    ("GET", "/customs/declarations/x1/amend", None),  # an amendment form
    ("DELETE", "/terminal/tasks", None),  # a page's path, not its method
    ("GET", "/terminal/nothing", None),
    ("GET", "/static/app.css", None),
])
def test_answers_are_those_of_included_routers(app, included, world, method, path, body):
    headers = {**world.headers(ENT), "Content-Type": "application/json"}
    answers = []
    for application_ in (app, included):
        with TestClient(application_) as client:
            answer = client.request(method, path, headers=headers, content=body, follow_redirects=False)
        answers.append((answer.status_code, answer.headers.get("content-type"), answer.headers.get("location"),
                        answer.content if path.startswith(API) else None,
                        set((answer.headers.get("allow") or "").split(", ")) - {""}))
    assert answers[0][:4] == answers[1][:4]
    # a 405's Allow names every method of the path (http.allowed_methods), more than the first route's alone
    assert answers[1][4] <= answers[0][4] and bool(answers[1][4]) == bool(answers[0][4])


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/organisations", "/api/v1/me/", "/api/v1/nothing"])
def test_answers_under_a_root_path_are_those_of_included_routers(app, included, world, path):
    """Served under a root path (behind a proxy), routes match the end of the request's path."""
    answers = []
    for application_ in (app, included):
        with TestClient(application_, root_path="/window") as client:
            answer = client.get("/window" + path, headers=world.headers(ENT), follow_redirects=False)
        answers.append((answer.status_code, answer.headers.get("location"), answer.content))
    assert answers[0] == answers[1]
    assert answers[0][0] == {"/api/v1/me/": 307, "/api/v1/nothing": 404}.get(path, 200)


@pytest.mark.parametrize("options", [{"max_body_size": 10}, {"on_startup": [lambda: None]},
                                     {"lifespan": lambda app: None}])
def test_a_router_with_settings_of_its_own_is_refused(app, options):
    from fastapi import APIRouter

    router = APIRouter(**options)
    router.get("/x")(lambda: None)
    with pytest.raises(ValueError, match="settings of its own"):
        add_routes(app, router, API)


def test_an_api_route_matches_in_full_only_a_path_with_its_literal_beginning_and_end(app, monkeypatch):
    route = next(r for r in app.routes if getattr(r, "path", "") == API + "/inspections/{inspection_id}/results")
    assert (route.literal_beginning, route.literal_end) == (API + "/inspections/", "/results")
    matched = []
    monkeypatch.setattr(APIRoute, "matches", lambda self, scope: matched.append(scope["path"]) or (Match.FULL, {}))
    for path, root_path in [("/api/v1/inspections/1/check-in", ""), ("/api/v1/declarations/1/results", ""),
                            ("/api/v1/inspections/1/results/", ""), ("/api/v1/inspections/1/results", ""),
                            ("/window/api/v1/inspections/2/results", "/window")]:
        route.matches({"type": "http", "path": path, "root_path": root_path, "method": "POST"})
    assert matched == ["/api/v1/inspections/1/results", "/window/api/v1/inspections/2/results"]
