"""Where a request's unit of work runs: on the event loop on SQLite (by default), on worker threads otherwise."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from onewindow.app import create_app
from onewindow.config import Settings
from onewindow.db import make_session_factory, unit_of_work
from onewindow.samples import sample_entry

ENTERPRISE = "91210200MA0QK1P3AF"


def _threads_of_transactions(app, world, path: str, body: dict | None = None, org: str = "0916") -> set[str]:
    seen: set[str] = set()

    def began(_session, _transaction, _connection) -> None:
        seen.add(threading.current_thread().name)

    event.listen(Session, "after_begin", began)
    try:
        with TestClient(app) as client:
            if body is None:
                answer = client.get(path, headers=world.headers(org))
            else:
                answer = client.post(path, json=body, headers=world.headers(org))
            assert answer.status_code in (200, 201), answer.text
    finally:
        event.remove(Session, "after_begin", began)
    return seen


@pytest.mark.parametrize("on_loop", [True, False])
def test_the_unit_of_work_runs_where_the_database_wants_it(db, clock, world, on_loop):
    settings = Settings(database_url=str(db.url), embedded_scheduler=False, sqlite_requests_on_loop=on_loop)
    threads = _threads_of_transactions(create_app(settings, clock=clock, engine=db), world, "/api/v1/declarations")
    in_workers = {name.startswith("onewindow-request") for name in threads}
    assert in_workers == {not (on_loop and db.dialect.name == "sqlite")}


def test_errors_on_the_loop_keep_the_error_shape_and_roll_back(db, clock, world):
    settings = Settings(database_url=str(db.url), embedded_scheduler=False)
    with TestClient(create_app(settings, clock=clock, engine=db)) as client:
        missing = client.get("/api/v1/declarations/not-an-id", headers=world.headers("0916"))
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        unauthenticated = client.get("/api/v1/declarations", headers={"Authorization": "Bearer nope"})
        assert unauthenticated.status_code == 401
        assert client.get("/api/v1/declarations", headers=world.headers("0916")).status_code == 200


def test_work_that_looks_up_a_host_name_runs_on_a_worker_thread(db, clock, world):
    settings = Settings(database_url=str(db.url), embedded_scheduler=False, webhook_allowed_hosts=["127.0.0.1"])
    threads = _threads_of_transactions(create_app(settings, clock=clock, engine=db), world, "/api/v1/webhooks",
                                       body={"url": "http://127.0.0.1:9/hook"}, org=ENTERPRISE)
    assert {name.startswith("onewindow-request") for name in threads} == {True}


def test_a_unit_of_work_that_never_uses_its_session_begins_and_commits_nothing(db):
    ended: list[Session] = []

    def committed(session) -> None:
        ended.append(session)

    factory = make_session_factory(db)
    event.listen(Session, "after_commit", committed)
    try:
        with unit_of_work(factory) as unused:
            pass
        with unit_of_work(factory) as used:
            used.execute(text("SELECT 1"))
    finally:
        event.remove(Session, "after_commit", committed)
    assert unused not in ended and used in ended


def test_who_am_i_from_the_token_memory_needs_no_transaction(db, clock, world):
    app = create_app(Settings(database_url=str(db.url), embedded_scheduler=False), clock=clock, engine=db)
    assert _threads_of_transactions(app, world, "/api/v1/me")  # the token is read once
    assert _threads_of_transactions(app, world, "/api/v1/me") == set()


def test_a_get_reads_beside_a_writer_holding_the_write_slot_and_a_post_writes(db, clock, world):
    """A request that changes nothing (GET) reads a snapshot: on SQLite it answers while another unit of
    work holds the one write slot (from its first write to its commit); a POST's unit of work is a writer."""
    settings = Settings(database_url=str(db.url), embedded_scheduler=False)
    app = create_app(settings, clock=clock, engine=db)
    readers: list[bool] = []

    def began(_session, _transaction, connection) -> None:
        readers.append(bool(connection.info.get("reader")))

    holding, answered = threading.Event(), threading.Event()

    def writer() -> None:
        with unit_of_work(make_session_factory(db)) as session:
            session.execute(text("UPDATE organisations SET name = name WHERE code = '0916'"))
            holding.set()
            assert answered.wait(20), "the GET waited for the writer"

    event.listen(Session, "after_begin", began)
    thread = threading.Thread(target=writer)
    try:
        with TestClient(app) as client:
            thread.start()
            assert holding.wait(10)
            answer = client.get("/api/v1/declarations", headers=world.headers("0916"))
            answered.set()
            assert answer.status_code == 200, answer.text
            thread.join(20)
            created = client.post("/api/v1/filings", json=sample_entry(seed=3), headers=world.headers(ENTERPRISE))
    finally:
        answered.set()
        event.remove(Session, "after_begin", began)
        thread.join(20)
    assert created.status_code == 201, created.text
    assert readers == [False, db.dialect.name == "sqlite", False]  # the writer's, the GET's, the POST's


class _Aborted(Exception):
    """What a driver raises for a transaction the database aborted to break a deadlock."""

    sqlstate = "40P01"


def _conflict():
    from sqlalchemy.exc import OperationalError

    return OperationalError("UPDATE ...", None, _Aborted("deadlock detected"))


def _run_again():
    from onewindow.db import RunAgain

    return RunAgain("its event would come in the log before one about the same subject")


ABORTED = pytest.mark.parametrize("aborted", [_conflict, _run_again], ids=["deadlock", "run-again"])
"""A unit of work the database aborted to settle a conflict, or one asking to be run again."""


@ABORTED
def test_a_unit_of_work_aborted_to_settle_a_conflict_is_run_again_from_the_start(db, aborted):
    """The first run's writes are rolled back with it; the second run's are kept."""
    from onewindow.db import in_unit_of_work
    from onewindow.models import Organisation

    runs = []

    def work(session):
        session.add(Organisation(kind="customs", code=f"099{len(runs)}", name=f"run {len(runs)}",
                                 created_at=datetime.now(UTC)))
        session.flush()
        runs.append(session)
        if len(runs) == 1:
            raise aborted()
        return "done"

    assert in_unit_of_work(make_session_factory(db), work) == "done"
    assert len(runs) == 2 and runs[0] is not runs[1]
    with unit_of_work(make_session_factory(db)) as session:
        assert session.execute(select(Organisation.name)).scalars().all() == ["run 1"]


@ABORTED
def test_a_unit_of_work_is_run_at_most_five_times_and_other_errors_once(db, aborted):
    from sqlalchemy.exc import OperationalError

    from onewindow.db import ATTEMPTS, in_unit_of_work

    runs = []

    def always_aborted(_session):
        runs.append(1)
        raise aborted()

    with pytest.raises(type(aborted())):
        in_unit_of_work(make_session_factory(db), always_aborted)
    assert len(runs) == ATTEMPTS == 5

    def locked(_session):
        runs.append(2)
        raise OperationalError("SELECT 1", None, Exception("database is locked"))

    with pytest.raises(OperationalError):
        in_unit_of_work(make_session_factory(db), locked)
    assert runs.count(2) == 1


@ABORTED
def test_a_request_still_aborted_after_five_runs_answers_503(db, clock, world, monkeypatch, caplog, aborted):
    """Each run rolled back; the answer is the error shape's 503, and the log says why at level WARNING."""
    from onewindow import http

    runs = []

    def aborted_every_time(_ctx, _token):
        runs.append(1)
        raise aborted()

    monkeypatch.setattr(http, "authenticate", aborted_every_time)
    with TestClient(create_app(Settings(database_url=str(db.url), embedded_scheduler=False), clock=clock,
                               engine=db)) as client:
        answer = client.get("/api/v1/filings", headers=world.headers(ENTERPRISE))
    assert (answer.status_code, answer.json()["error"]["code"], len(runs)) == (503, "database_unavailable", 5)
    assert any(r.levelname == "WARNING" and r.getMessage().startswith("database unavailable")
               for r in caplog.records)
