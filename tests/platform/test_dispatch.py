"""An API route's handler (``onewindow.dispatch``) answers as FastAPI's own handler answers: the same statuses,
headers (in the same order) and bodies, refusals included, over a whole consignment's life."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace

from onewindow import app as application
from onewindow.app import API, ApiRoute, add_routes, create_app
from onewindow.http import Anyone, AsCaller, Caller
from onewindow.samples import sample_entry
from tests.conftest import ENTERPRISE, World, _wipe

CUSTOMS, CIQ, TERMINAL, ADMIN = "0916", "210600", "DCT", "PORTOFFICE"


def _answer(answer) -> tuple:
    """Status, every header in order and the body."""
    return answer.status_code, answer.headers.raw, answer.content


def exchange(app, run, clock, monkeypatch) -> list[tuple]:
    """A consignment's whole life over the API, with refusals of every kind on the way; every answer (the
    records' ids drawn from the same seed each time)."""
    answers: list[tuple] = []
    draws = random.Random(29)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=draws.getrandbits(128), version=4))
    world = World(run)

    def call(method: str, path: str, org: str | None = None, body=None, *, content: bytes | None = None,
             headers: dict | None = None):
        sent = {**(world.headers(org) if org else {}), **(headers or {})}
        if body is not None:
            content = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        answer = client.request(method, API + path, content=content, headers=sent, follow_redirects=False)
        status, headers, content = _answer(answer)
        if path.startswith("/events") and status == 200:  # the cursor holds PostgreSQL's transaction ids
            page = json.loads(content)
            content, headers = json.dumps(page["events"]).encode(), [h for h in headers if h[0] != b"content-length"]
        answers.append((method, path, status, headers, content))
        return answer.json() if answer.headers.get("content-type", "").endswith("json") else None

    entry = sample_entry(seed=7, containers=2, items=3)
    numbers = [c["number"] for c in entry["containers"]]
    with TestClient(app) as client:
        call("GET", "/me", ENTERPRISE)
        call("GET", "/me")  # 401: no token
        call("GET", "/me", headers={"Authorization": "Basic eA=="})  # 401: another scheme
        call("GET", "/me", headers={"Authorization": "Bearer unknown"})  # 401: an unknown token
        call("GET", "/organisations?kind=customs", ADMIN)
        call("GET", "/organisations?kind=nothing", ADMIN)  # 422: an enumeration
        call("POST", "/terminal/arrivals", TERMINAL, {"containers": numbers, "conveyance": entry["conveyance"]})
        call("POST", "/filings", ENTERPRISE, content=b"{not json", headers={"Content-Type": "application/json"})
        call("POST", "/filings", ENTERPRISE, headers={"Content-Type": "application/json"})  # 422: no body
        call("POST", "/filings", ENTERPRISE, [1, 2])  # 422: not an object
        call("POST", "/filings", ENTERPRISE, content=b"{}", headers={"Content-Type": "text/plain"})  # bytes: 422
        call("POST", "/filings", ENTERPRISE, content=b"{}")  # no content type: bytes, strict: 422
        call("POST", "/filings", ENTERPRISE, content=b"{}", headers={"Content-Type": "application/entry+json"})
        call("POST", "/filings", ENTERPRISE, content=b"{}",
             headers={"Content-Type": "Application/JSON; charset=utf-8"})
        call("POST", "/filings", content=b"{not json", headers={"Content-Type": "application/json"})  # 422 first
        filing = call("POST", "/filings", ENTERPRISE, entry)
        call("GET", "/filings?limit=0&offset=-1", ENTERPRISE)  # 422: two query parameters
        call("GET", "/filings?limit=2&status=staged", ENTERPRISE)
        call("PATCH", f"/filings/{filing['id']}", ENTERPRISE, {}, headers={"If-Match": "first"})  # 422: header
        call("POST", f"/filings/{filing['id']}/submit", ENTERPRISE, {"agencies": "customs"})  # 422: body model
        call("POST", f"/filings/{filing['id']}/submit", ENTERPRISE)  # no body: the optional model is None
        ids = {d["agency"]: d["id"] for d in filing["declarations"]}
        call("POST", f"/declarations/{ids['customs']}/accept", CUSTOMS)
        call("POST", f"/declarations/{ids['ciq']}/accept", CIQ)
        call("POST", "/declarations/not-an-id/accept", CUSTOMS)  # 404
        call("POST", f"/declarations/{ids['customs']}/decision", CUSTOMS,
             {"inspect": True, "containers": numbers[:1], "kind": "physical", "reason": "compared"})
        call("POST", f"/declarations/{ids['ciq']}/decision", CIQ,
             {"inspect": True, "containers": numbers[:1], "kind": "sampling"})
        call("GET", f"/inspections?filing={filing['id']}&limit=900", ENTERPRISE)  # 422
        call("GET", "/inspections?filing=not-a-uuid&status=nothing", ENTERPRISE)  # 422: two errors
        [inspection] = call("GET", f"/inspections?filing={filing['id']}", ENTERPRISE)
        call("GET", "/terminal/tasks?status=bogus", TERMINAL)  # 422: a literal
        [task] = call("GET", "/terminal/tasks?status=open", TERMINAL)
        call("POST", f"/terminal/tasks/{task['id']}/complete", TERMINAL, {"location": ""})  # 422
        call("POST", f"/terminal/tasks/{task['id']}/complete", TERMINAL, {"location": "B3"})
        call("POST", f"/inspections/{inspection['id']}/appointment", ENTERPRISE, {"at": "soon"})  # 422
        at = (clock.now() + timedelta(minutes=1)).isoformat()
        call("POST", f"/inspections/{inspection['id']}/appointment", ENTERPRISE, {"at": at})
        for agency in (CUSTOMS, CIQ):
            call("POST", f"/inspections/{inspection['id']}/check-in", agency)
        for agency in (CUSTOMS, CIQ):
            call("POST", f"/inspections/{inspection['id']}/results", agency, {"outcome": "conforming"})
        call("POST", f"/declarations/{ids['customs']}/release", CUSTOMS)
        call("POST", f"/declarations/{ids['ciq']}/release", CIQ)
        call("GET", f"/containers/{numbers[0]}/release", TERMINAL)
        for number in numbers:
            call("POST", f"/containers/{number}/gate-out", TERMINAL)
        call("GET", f"/filings/{filing['id']}", ENTERPRISE)
        call("GET", "/events?limit=0", ENTERPRISE)  # 422
        call("GET", "/events?limit=3", ENTERPRISE)
        call("POST", "/webhooks", ENTERPRISE, {})  # 422: a body model's fields
        call("DELETE", "/webhooks/not-an-id", ENTERPRISE)  # 404 of a route answering with a Response
        call("GET", "/public/clearance-times?group_by=nothing")
        call("GET", "/public/clearance-times.csv")
        call("GET", "/refdata/countries")  # FastAPI's handler in both
    return answers


@pytest.fixture
def fastapi_handled(db, settings, clock, monkeypatch):
    """The application with FastAPI's own handler on every route (no plans)."""
    monkeypatch.setattr(application, "plan_of", lambda route, request_class: None)
    return create_app(settings, clock=clock, engine=db)


def test_every_api_route_but_two_has_a_plan(app):
    unplanned = [r.path for r in app.routes if type(r) is ApiRoute and r.plan is None]
    assert unplanned == [API + "/refdata/inspection-catalogue/{hs_code}", API + "/refdata/{table}"]


def test_a_consignments_life_is_answered_as_fastapis_handler_answers_it(app, fastapi_handled, db, run, clock,
                                                                       monkeypatch):
    answers = exchange(app, run, clock, monkeypatch)
    _wipe(db)
    expected = exchange(fastapi_handled, run, clock, monkeypatch)
    assert [a[:3] for a in answers] == [e[:3] for e in expected]  # the statuses first, to read a difference
    assert answers == expected
    statuses = {a[2] for a in answers}
    assert {200, 201, 401, 404, 422} <= statuses


def test_with_dependency_overrides_fastapis_handler_answers(app, world):
    """Dependency overrides are FastAPI's to apply: a route's plan hands such requests to FastAPI's handler."""
    from onewindow import http

    app.dependency_overrides[http.AsCaller.__metadata__[0].dependency] = lambda: Caller(state=app.state,
                                                                                          token="replaced")
    with TestClient(app) as client:
        answer = client.get(API + "/me", headers=world.headers(ENTERPRISE))
    assert answer.status_code == 401  # the overriding caller's token is unknown


class _Recording(trace.NoOpTracer):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def start_span(self, name, *args, **kwargs):
        self.names.append(name)
        return super().start_span(name, *args, **kwargs)

    def start_as_current_span(self, name, *args, **kwargs):
        self.names.append(name)
        return super().start_as_current_span(name, *args, **kwargs)


class _Provider(trace.TracerProvider):
    def __init__(self) -> None:
        self.names: list[str] = []

    def get_tracer(self, *args, **kwargs):
        return _Recording(self.names)


def test_requests_observed_by_fastapis_telemetry_are_fastapis_to_handle():
    """With a tracer provider FastAPI's handler traces the dependencies, the endpoint and the serialization."""
    router = APIRouter()

    @router.get("/hello/{name}")
    async def hello(caller: Anyone, name: str, times: int = 1) -> dict:
        return {"hello": [name] * times, "token": caller.token}

    provider = _Provider()
    app = FastAPI(telemetry={"tracer_provider": provider, "metrics": False, "logs": False})
    add_routes(app, router, "/api")
    [route] = [r for r in app.routes if type(r) is ApiRoute]
    assert route.plan is not None
    with TestClient(app) as client:
        answer = client.get("/api/hello/you?times=2", headers={"Authorization": "Bearer t"})
    assert answer.json() == {"hello": ["you", "you"], "token": "t"}
    assert {"fastapi.dependencies", "fastapi.endpoint", "fastapi.serialization"} <= set(provider.names)


def test_a_plan_answers_as_fastapi_for_status_codes_without_a_body():
    """A route whose status has no body (204) or whose endpoint answers itself keeps FastAPI's answers."""
    router = APIRouter()

    @router.post("/gone", status_code=204)
    async def gone(caller: AsCaller) -> None:
        return None

    @router.post("/made", status_code=201, response_model=dict[str, int])
    async def made(caller: AsCaller, n: int) -> dict[str, int]:
        return {"n": n}

    answers = []
    for planned in (True, False):
        app = FastAPI()
        add_routes(app, router, "/api")
        if not planned:
            app.dependency_overrides[len] = len  # any override: FastAPI's handler
        with TestClient(app) as client:
            headers = {"Authorization": "Bearer t"}
            answers.append([_answer(client.post("/api/gone", headers=headers)),
                            _answer(client.post("/api/made?n=3", headers=headers)),
                            _answer(client.post("/api/made?n=x", headers=headers))])
    assert answers[0] == answers[1]
    assert [a[0] for a in answers[0]] == [204, 201, 422]


def test_the_openapi_document_is_byte_for_byte_the_one_of_plain_fastapi_routes(app, db, settings, clock, world,
                                                                             monkeypatch):
    """Against the application as FastAPI alone makes it: routers included, its handler, its router's loop."""
    from onewindow import route_index

    monkeypatch.setattr(application, "add_routes", lambda app_, router, prefix: app_.include_router(router,
                                                                                                 prefix=prefix))
    monkeypatch.setattr(route_index, "install", lambda router: None)
    plain = create_app(settings, clock=clock, engine=db)
    documents = []
    for application_ in (app, plain):
        with TestClient(application_) as client:
            documents.append(client.get("/openapi.json").content)
    assert documents[0] == documents[1]
    assert b'"/api/v1/inspections/{inspection_id}/appointment"' in documents[0]
