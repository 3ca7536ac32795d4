"""No page, no API read and none of the services' writes walks a table that grows with the platform's history.

The demo's data set is loaded into a SQLite database (consignments in every stage, written by the services
the API calls) and the scheduler's rounds follow; then every organisation's user signs in and opens every
page and every API read it has (the routes' own list, each path parameter filled with the demo's filings,
declarations, inspections and containers), and the webhook relay tries its deliveries to a subscriber.
Every statement the platform ran meanwhile is put through ``EXPLAIN QUERY PLAN``. SQLite plans without
statistics (``tests/plans.py``), so an empty table shows the plan a large one gets: a ``SCAN`` of a growing
table is a read whose time grows with everything ever recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from onewindow.app import create_app
from onewindow.config import Settings
from onewindow.context import Context
from onewindow.db import make_engine, make_session_factory, unit_of_work
from onewindow.demo import DEMO_PASSWORD, load_demo
from onewindow.events.relay import run_relay_once
from onewindow.migrate import upgrade
from onewindow.models import ContainerVisit, Declaration, Filing, Inspection
from onewindow.scheduler import housekeeping, tick
from tests.plans import plan
from tests.web.conftest import Pages

GROWING = {
    "events", "event_recipients", "filings", "filing_versions", "declarations", "declaration_versions",
    "declaration_containers", "notices", "container_visits", "inspections", "inspection_containers",
    "inspection_declarations", "inspection_decisions", "inspection_participants", "releases", "relocation_tasks",
    "idempotency_records", "webhook_deliveries", "webhook_attempts", "web_sessions", "clearance_records",
}
"""Tables with rows for every consignment, container, event or sign-in: the rest (organisations, users, tokens,
webhook subscriptions, published figures) grow with the parties, not with the traffic."""

WALKS_ALLOWED = {
    "FROM clearance_records": "the clearance-time figures: served from their publication, which the scheduler "
                              "keeps; a request computes them only when none is fresh (decision 12)",
    "DELETE FROM web_sessions WHERE": "the scheduler's hourly housekeeping, over the sign-ins of the retention "
                                      "period that this very statement keeps the table to",
}
"""A part of a statement's text → why the statement may walk a growing table."""

NOTHING_TO_READ = re.compile(r"WHERE 0 = 1\s*(\)|ORDER BY|GROUP BY|LIMIT|$)")
"""An empty ``IN`` list (a caller who may see none of a kind): SQLite stops before its first row."""


@pytest.fixture
def demo(tmp_path, clock):
    """The demo loaded into a new SQLite database, and the statements its loading ran (the services' writes of
    consignments in every stage: filing, receipts, decisions, the match, inspections, releases, gate-out) and
    then the scheduler's rounds (deadlines, the clearance-time study and its publications, housekeeping)."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url, embedded_scheduler=False, webhook_allowed_hosts=["127.0.0.1"])
    factory = make_session_factory(engine)
    with collected(engine) as statements:
        with unit_of_work(factory) as session:
            logins = load_demo(Context(session=session, clock=clock, settings=settings))
        clock.advance(hours=2)  # past the match windows and the check-in grace
        while tick(factory, clock, settings)["clearance_events"]:
            pass
        housekeeping(factory, clock, settings)
    yield engine, create_app(settings, clock=clock, engine=engine), logins, statements
    engine.dispose()


@contextmanager
def collected(engine) -> Iterator[set[str]]:
    """The statements run on ``engine`` meanwhile."""
    statements: set[str] = set()
    listener = lambda _c, _cur, statement, *_: statements.add(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def relay(app, logins) -> None:
    """The webhook relay's work: the terminal subscribes (to a port nothing listens on), discharges a container,
    and the relay fans the events out and tries their deliveries, recording the attempts and the retries."""
    token = {"Authorization": f"Bearer {next(l for l in logins if l.kind == 'terminal').token}"}
    with TestClient(app) as client:
        assert client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"},
                           headers=token).status_code == 201
        assert client.post("/api/v1/terminal/arrivals", json={"containers": ["CSQU3054383"], "conveyance": {}},
                           headers=token).status_code in (200, 201)
    counts = run_relay_once(app.state.session_factory, app.state.clock, app.state.settings)
    assert counts["webhooks_fanned_out"] >= 1 and counts["webhook_failed_attempts"] >= 1, counts


def get_routes(app) -> list[str]:
    """Every GET path the application serves, pages and API, its parameters as ``{name}`` (all of them the
    application's own routes: tests/platform/test_routes.py)."""
    return sorted({route.path for route in app.routes if "GET" in (getattr(route, "methods", None) or ())})


def values_of(engine) -> dict[str, list[Any]]:
    """The demo's ids and numbers, by the path parameter names that take them."""
    with engine.connect() as conn:
        ids = {name: [str(v) for v in conn.scalars(select(model.id))]
               for name, model in (("filing_id", Filing), ("declaration_id", Declaration),
                                   ("inspection_id", Inspection))}
        ids["number"] = sorted(set(conn.scalars(select(ContainerVisit.number))))
    return ids


def paths(route: str, values: dict[str, list[Any]]) -> list[str]:
    """``route`` with each parameter replaced by each of its values (none when a parameter has no values)."""
    names = re.findall(r"{(\w+)}", route)
    if not names:
        return [route]
    if len(names) > 1 or names[0] not in values:
        return []
    return [route.replace(f"{{{names[0]}}}", str(v)) for v in values[names[0]]]


def walks(engine, statement: str) -> list[str]:
    """The steps of SQLite's plan for ``statement`` that read a growing table whole."""
    return [s for s in plan(engine, statement) if s.startswith("SCAN ") and s.split()[1] in GROWING]


def test_the_demo_s_writes_and_every_page_and_api_read_of_every_party_seek(demo):
    engine, app, logins, written = demo
    values, routes = values_of(engine), get_routes(app)
    assert len(routes) > 30 and all(values.values())
    opened = 0
    with collected(engine) as statements:
        for login in logins:
            with TestClient(app) as client:
                Pages.sign_in(client, login.code, login.user, DEMO_PASSWORD)
                api = {"Authorization": f"Bearer {login.token}"}
                for route in routes:
                    for path in paths(route, values):
                        answer = client.get(path, headers=api if path.startswith("/api/") else {})
                        assert answer.status_code < 500, (login.code, path, answer.text)
                        opened += answer.status_code == 200
        relay(app, logins)
    assert opened > 100
    assert any("container_visits.arrived_at DESC" in s for s in statements)  # a yard was read
    assert any("event_recipients.event_seq = events.seq" in s for s in statements)  # and a timeline
    walking = {s: w for s in statements | written if re.match(r"\s*(SELECT|WITH|UPDATE|DELETE)", s, re.I)
               and not NOTHING_TO_READ.search(s) and not any(part in s for part in WALKS_ALLOWED)
               and (w := walks(engine, s))}
    assert walking == {}, "\n\n".join(f"{w}\n{s}" for s, w in walking.items())
