"""Crash test: ``onewindow serve`` killed with SIGKILL under load loses no webhook of an acknowledged request.

The server (with its embedded relay) runs in a subprocess on a database of its
own; a thread files and submits entries over HTTP; the server is killed in the
middle of the load and started again; once the load is over, every event of
every acknowledged request must reach the receiver at least once.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from onewindow.clock import SystemClock
from onewindow.config import Settings
from onewindow.context import Context
from onewindow.db import make_engine, make_session_factory, unit_of_work
from onewindow.events.webhooks import create_subscription
from onewindow.migrate import upgrade
from onewindow.models import Event
from onewindow.parties.service import actor_for, add_organisation, ensure_user, issue_token
from onewindow.samples import sample_entry
from tests.served import Served

PG_URL = os.environ.get("ONEWINDOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("ONEWINDOW_REQUIRE_SERVICES") == "1"
ENT = "91210200MA0QK1P3AF"
API = "/api/v1"
FILINGS = 120
KILL_AFTER = 40
"""Acknowledged filings before the server is killed."""
DELIVERY_WAIT = 120
"""Seconds to wait for the deliveries after the load: a relay killed mid-send leaves its claims leased
until the lease expires (15 s at most, see ``onewindow.events.relay.LEASE``)."""


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error.__class__.__name__}: {str(error).splitlines()[0]})"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and ONEWINDOW_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A fresh, migrated database of its own (not the shared test database, which is wiped per test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        yield url
        return
    name = f"onewindow_crash_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any connection failure means "not reachable"
        admin.dispose()
        _unavailable(f"PostgreSQL at {make_url(PG_URL).render_as_string()}", error)
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def prepare(url: str, hook_url: str) -> str:
    """Migrate, register the offices and the enterprise, subscribe the enterprise to ``hook_url``; its token."""
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    settings = Settings(database_url=url, webhook_allowed_hosts=["127.0.0.1"])
    with unit_of_work(make_session_factory(engine)) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=settings)
        for kind, code in (("customs", "0916"), ("ciq", "210600")):
            add_organisation(ctx, kind=kind, code=code, name=code)
        ent = add_organisation(ctx, kind="enterprise", code=ENT, name="crash")
        token = issue_token(ctx, ensure_user(ctx, ent, "crash"))
    with unit_of_work(make_session_factory(engine)) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=settings)
        ctx = Context(session=session, clock=SystemClock(), settings=settings, actor=actor_for(ctx, ENT))
        create_subscription(ctx, hook_url, None)
    engine.dispose()
    return token


def relaying_server(url: str) -> Served:
    """``onewindow serve`` with its relay every 0.1 s, delivering to the loopback receiver."""
    return Served(url, env={"ONEWINDOW_WEBHOOK_RELAY_INTERVAL_SECONDS": "0.1",
                            "ONEWINDOW_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "ONEWINDOW_WEBHOOK_TIMEOUT_SECONDS": "2"})


class Load(threading.Thread):
    """Creates and submits ``FILINGS`` filings one after the other; keeps the acknowledged ones.

    A request that fails (the server is down) is not acknowledged; the loader
    waits a moment and goes on with the next filing (a created filing whose
    submit failed is submitted again once the server answers, with the same
    ``Idempotency-Key``).
    """

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}
        self.created: list[str] = []  # 201 to POST /filings
        self.submitted: list[str] = []  # 200 to POST /filings/{id}/submit
        self.failures = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base + API, headers=self.headers, timeout=10) as client:
                for seed in range(FILINGS):
                    filing_id = self._post(client, "/filings", json=sample_entry(seed=seed), expect=201)
                    if filing_id is None:
                        continue
                    self.created.append(filing_id)
                    # a submit the server committed just before it was killed is retried with the same key: the
                    # retry gets the first answer instead of 409 (nothing left to submit)
                    key = {"Idempotency-Key": f"submit-{filing_id}"}
                    while self._post(client, f"/filings/{filing_id}/submit", expect=200, headers=key) is None:
                        pass
                    self.submitted.append(filing_id)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def _post(self, client: httpx.Client, path: str, expect: int, **kwargs) -> str | None:
        try:
            answer = client.post(path, **kwargs)
        except httpx.HTTPError:
            self.failures += 1
            time.sleep(0.05)
            return None
        assert answer.status_code == expect, f"{path}: {answer.status_code} {answer.text}"
        return answer.json()["id"]


def test_sigkill_under_load_loses_no_webhook_of_an_acknowledged_request(database, receiver):
    receiver = receiver()
    token = prepare(database, receiver.url)
    server = relaying_server(database)
    server.start()
    try:
        load = Load(server.base, token)
        load.start()
        deadline = time.monotonic() + 30
        while len(load.submitted) < KILL_AFTER and load.is_alive():
            assert time.monotonic() < deadline, "the load did not get going"
            time.sleep(0.005)
        server.kill()
        killed_at = len(load.submitted)
        server.start()
        load.join(60)
        assert not load.is_alive(), "the load did not finish"
        assert load.error is None, repr(load.error)
        assert load.failures > 0 and killed_at < FILINGS, "the kill did not land in the middle of the load"

        engine = make_engine(database, pool_size=1)
        try:
            with unit_of_work(make_session_factory(engine)) as session:
                rows = session.execute(select(Event.id, Event.type, Event.filing_id).where(
                    Event.filing_id.in_([uuid.UUID(f) for f in load.created]),
                    Event.type.in_(["filing.created", "declaration.submitted"]))).all()
        finally:
            engine.dispose()
        by_filing: dict[str, dict[str, list[str]]] = {}
        for event_id, type_, filing_id in rows:
            by_filing.setdefault(str(filing_id), {}).setdefault(type_, []).append(str(event_id))
        for filing_id in load.created:  # acknowledged writes are durable
            assert len(by_filing.get(filing_id, {}).get("filing.created", [])) == 1, filing_id
        for filing_id in load.submitted:
            assert len(by_filing[filing_id].get("declaration.submitted", [])) == 2, filing_id
        expected = {event_id for filing_id in load.created for ids in by_filing[filing_id].values()
                    for event_id in ids}

        deadline = time.monotonic() + DELIVERY_WAIT
        while not expected <= set(receiver.ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        missing = expected - set(receiver.ids)
        assert not missing, (f"{len(missing)} of {len(expected)} events of acknowledged requests never reached "
                             f"the receiver ({len(receiver.ids)} requests received)")
    finally:
        server.stop()
