"""Published clearance-time figures: equal to the live answer when computed, refreshed when stale and changed
(and not otherwise), one refresher per key, asked queries kept then expired, ``as_of`` everywhere (both
databases)."""

from __future__ import annotations

import csv
import io
import random
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import create_engine, func, select, text

from onewindow.config import Settings
from onewindow.db import make_session_factory
from onewindow.models import ClearancePublication, ClearanceRecord, SinkCursor
from onewindow.scheduler import tick
from onewindow.timing import publication, service
from onewindow.timing.filters import FigureQuery, parse_query
from onewindow.timing.projection import CURSOR, week_of

URL = "/api/v1/public/clearance-times"
STANDARD = 7 * 4  # the whole study, two months, two quarters, two years; four views each


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, embedded_scheduler=False, clearance_refresh_seconds=600,
                    clearance_max_age_seconds=3600, clearance_asked_days=7, clearance_asked_limit=3)


def add_rows(run, n: int, seed: int) -> None:
    """``n`` consignments of March 2026 loaded straight into the study (the projection's cursor does not move)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        day = date(2026, 3, 2) + timedelta(days=rng.randrange(20))
        start = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        agencies, port = rng.randrange(600, 90000), rng.randrange(0, 30000)
        rows.append(dict(
            filing_id=uuid.uuid4(), direction="import", port=("CNDAG", "CNDLC")[i % 2], customs_office="0916",
            ciq_office=None, transport_mode="2", trade_mode="0110", credit_level="general", inspection="none",
            inspection_place=None, destination="210200", inspections=0, no_shows=0, rejections=0,
            pre_arrival=False, complete=True, started_at=start, started_on=day, started_week=week_of(day),
            arrived_at=start, filed_at=start, projected_at=start, arrival_to_filing_seconds=0,
            filing_to_release_seconds=agencies, release_to_gate_out_seconds=port,
            arrival_to_release_seconds=agencies, arrival_to_gate_out_seconds=agencies + port,
            customs_filing_to_release_seconds=agencies, ciq_filing_to_release_seconds=None))
    run(lambda ctx: ctx.session.execute(ClearanceRecord.__table__.insert(), rows))


def project_to(run, tx: int, seq: int = 1) -> None:
    """Move the study's position as the projection does when it applies events."""
    def move(ctx):
        cursor = ctx.session.get(SinkCursor, CURSOR)
        if cursor is None:
            ctx.session.add(SinkCursor(name=CURSOR, tx=tx, seq=seq, published=0))
        else:
            cursor.tx, cursor.seq = tx, seq
    run(move)


@pytest.fixture
def refresh(db, clock, settings):
    factory = make_session_factory(db)
    return lambda **kw: publication.refresh(factory, clock, settings, **kw)


def publications(run) -> dict[str, ClearancePublication]:
    return run(lambda ctx: {p.key: p for p in publication.published(ctx)})


def test_periods_are_calendar_months_quarters_and_years():
    assert publication.periods(date(2026, 1, 15)) == [
        (None, None), (date(2026, 1, 1), date(2026, 1, 31)), (date(2025, 12, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 3, 31)), (date(2025, 10, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 12, 31)), (date(2025, 1, 1), date(2025, 12, 31))]
    assert publication.periods(date(2026, 8, 31))[1:5] == [
        (date(2026, 8, 1), date(2026, 8, 31)), (date(2026, 7, 1), date(2026, 7, 31)),
        (date(2026, 7, 1), date(2026, 9, 30)), (date(2026, 4, 1), date(2026, 6, 30))]
    assert publication.key_of("distribution", parse_query({"to": "2026-03-31", "from": "2026-03-01",
                                                           "group_by": "port"}), 5) \
        == "distribution?from=2026-03-01&to=2026-03-31&min_group=5"


def test_a_published_answer_equals_the_live_answer_when_it_was_computed(run, refresh, clock):
    add_rows(run, 40, seed=1)
    assert len(refresh()) == STANDARD
    stored = publications(run)
    assert len(stored) == STANDARD
    for key, row in stored.items():
        live = run(lambda ctx, row=row: service.live(ctx, row.kind, parse_query(row.params), row.min_group))
        assert row.answer == live, key
        assert row.answer["as_of"] == clock.now().astimezone(UTC).isoformat()
    march = [r for r in stored.values() if r.params == {"from": "2026-03-01", "to": "2026-03-31"}]
    assert {r.kind for r in march} == {"figures", "distribution"}
    assert [r.answer["groups"][0]["consignments"] for r in march if r.kind == "figures"] == [40]
    for params in ({}, {"from": "2026-03-01", "to": "2026-03-31"}):
        query = parse_query(params)
        assert run(lambda ctx, q=query: service.chart_series(ctx, q, answer=publication.served)) \
            == run(lambda ctx, q=query: service.chart_series(ctx, q))
    # served as published: rows loaded without moving the study's position are not seen until a refresh
    add_rows(run, 10, seed=2)
    query = parse_query({"from": "2026-03-01", "to": "2026-03-31"})
    answer = run(lambda ctx: publication.served(ctx, "figures", query, 5))
    assert answer == march[[r.kind for r in march].index("figures")].answer
    assert run(lambda ctx: service.figures(ctx, query))["groups"][0]["consignments"] == 50


def test_refreshed_when_stale_and_changed_and_not_otherwise(run, refresh, clock):
    add_rows(run, 12, seed=3)
    assert len(refresh()) == STANDARD
    assert refresh() == []                      # fresh
    clock.advance(seconds=601)
    assert refresh() == []                      # old, but the study has not changed
    project_to(run, 7)
    before = publications(run)
    done = refresh()                            # old and changed
    assert sorted(done) == sorted(before)
    after = publications(run)
    assert all(after[k].as_of > before[k].as_of and (after[k].study_tx, after[k].study_seq) == (7, 1)
               for k in done)
    project_to(run, 8)
    assert refresh() == []                      # changed, but fresh


def test_the_round_stops_starting_keys_once_its_budget_is_spent(run, refresh):
    add_rows(run, 6, seed=4)
    first = refresh(budget_seconds=0)
    assert first == []
    assert len(refresh()) == STANDARD


def test_served_computes_live_when_the_publication_is_too_old_and_the_study_changed(run, refresh, clock):
    add_rows(run, 8, seed=5)
    refresh()
    query = FigureQuery()
    published = run(lambda ctx: publication.served(ctx, "figures", query, 5))
    add_rows(run, 4, seed=6)
    project_to(run, 3)
    clock.advance(seconds=3599)
    assert run(lambda ctx: publication.served(ctx, "figures", query, 5)) == published  # changed, young enough
    clock.advance(seconds=2)
    answer = run(lambda ctx: publication.served(ctx, "figures", query, 5))
    assert answer["groups"][0]["consignments"] == 12 and answer["as_of"] > published["as_of"]
    key = publication.key_of("figures", query, 5)
    row = publications(run)[key]
    assert row.answer == answer and (row.study_tx, row.asked_at) == (3, clock.now())


def test_two_schedulers_refresh_each_key_once(db, run, clock, settings):
    add_rows(run, 10, seed=7)
    factory = make_session_factory(db)
    done: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def scheduler(i: int) -> None:
        barrier.wait()
        done[i] = publication.refresh(factory, clock, settings)

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    both = done[0] + done[1]
    assert len(both) == STANDARD and len(set(both)) == STANDARD


def test_a_key_another_scheduler_holds_is_skipped(db, run, refresh, database_url):
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one transaction at a time: there is no second holder to skip")
    add_rows(run, 5, seed=8)
    held = publication.key_of("figures", FigureQuery(), 5)
    other = create_engine(database_url)
    try:
        with other.connect() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
                         {"space": publication.LOCK_SPACE, "key": held})
            done = refresh()
            conn.rollback()
    finally:
        other.dispose()
    assert held not in done and len(done) == STANDARD - 1
    assert refresh() == [held]


def test_asked_queries_are_kept_then_expire(client, run, refresh, clock):
    add_rows(run, 10, seed=9)
    asked = [{"port": "CNDAG"}, {"port": "CNDLC"}, {"direction": "import"}, {"from": "2026-03-09"}]
    for params in asked:
        assert client.get(URL, params=params).status_code == 200
        clock.advance(seconds=1)
    keys = [publication.key_of("figures", parse_query(p), 5) for p in asked]
    assert set(keys) <= set(publications(run))
    project_to(run, 2)
    clock.advance(seconds=601)
    done = refresh()
    assert set(keys[1:]) <= set(done) and keys[0] not in done  # only the three most recently asked are kept
    assert keys[0] not in publications(run)
    clock.advance(days=7)
    refresh()
    assert not set(keys) & set(publications(run))
    assert len(publications(run)) == STANDARD


def test_as_of_in_the_answer_the_csv_and_the_page(client, run, refresh, clock):
    add_rows(run, 9, seed=10)
    refresh()
    computed = clock.now().astimezone(UTC)
    clock.advance(minutes=5)
    answer = client.get(URL)
    assert answer.json()["as_of"] == computed.isoformat()
    assert parsedate_to_datetime(answer.headers["last-modified"]) == computed.replace(microsecond=0)
    lines = list(csv.DictReader(io.StringIO(client.get(URL, params={"format": "csv"}).text)))
    assert lines and {line["as_of"] for line in lines} == {computed.isoformat()}
    page = client.get("/clearance-times")
    assert page.status_code == 200
    assert f'data-as-of="{computed.isoformat()}"' in page.text and "数据截至 2026-03-02 09:00" in page.text


def test_bad_parameters_are_422_and_publish_nothing(client, run):
    assert client.get(URL, params={"port": "XX"}).status_code == 422
    assert client.get("/clearance-times", params={"from": "2026-13-01"}).status_code == 422
    assert publications(run) == {}


def test_the_scheduler_round_refreshes_the_publications(db, clock, settings, run):
    add_rows(run, 5, seed=11)
    factory = make_session_factory(db)
    rounds = [tick(factory, clock, settings)["clearance_published"] for _ in range(STANDARD + 1)]
    assert sum(rounds) == STANDARD and rounds[0] > 0 and rounds[-1] == 0  # a round may stop at its budget
    assert run(lambda ctx: ctx.session.scalar(select(func.count()).select_from(ClearancePublication))) == STANDARD


def test_the_report_computes_live_unless_asked_for_the_published_figures(run, refresh, database_url,
                                                                         monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from onewindow.cli import app
    from onewindow.config import get_settings

    add_rows(run, 10, seed=12)
    refresh()
    add_rows(run, 5, seed=13)  # not yet published
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        overall = {}
        for mode in ("--published", "--live"):
            out = tmp_path / f"report{mode}.json"
            result = CliRunner().invoke(app, ["report", "clearance", "--from", "2026-03-01", "--to", "2026-03-31",
                                              "--min-group", "5", "--no-project", "--format", "json", mode,
                                              "--output", str(out)])
            assert result.exit_code == 0, result.output
            data = json.loads(out.read_text(encoding="utf-8"))
            overall[mode] = data["sections"]["overall"]["groups"][0]["consignments"]
            assert data["charts"]["overall"]["groups"][0]["consignments"] == overall[mode]
    finally:
        get_settings.cache_clear()
    assert overall == {"--published": 10, "--live": 15}


def published_by_another(key: str, query, answer: dict):
    """The insert by which another party publishes ``answer`` for ``key`` (computed in 0.5 s, so it is told
    apart from one computed here)."""
    return ClearancePublication.__table__.insert().values(
        key=key, kind="figures", params=query.as_params(), min_group=5, answer=answer,
        as_of=datetime.fromisoformat(answer["as_of"]), study_tx=0, study_seq=0, compute_seconds=0.5)


def test_a_request_waits_for_whoever_computes_the_same_new_question(db, run, database_url):
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one transaction at a time: nobody else computes meanwhile")
    add_rows(run, 6, seed=14)
    query = parse_query({"port": "CNDAG"})
    key = publication.key_of("figures", query, 5)
    other = create_engine(database_url)
    result: dict = {}
    try:
        with other.connect() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
                         {"space": publication.LOCK_SPACE, "key": key})
            asking = threading.Thread(target=lambda: result.update(
                answer=run(lambda ctx: publication.served(ctx, "figures", query, 5))))
            asking.start()
            asking.join(1)
            assert asking.is_alive()  # waiting for the other computation
            theirs = run(lambda ctx: service.figures(ctx, query, min_group=5))
            conn.execute(published_by_another(key, query, theirs))
            conn.commit()
            asking.join(30)
    finally:
        other.dispose()
    assert result["answer"] == theirs
    assert publications(run)[key].compute_seconds == 0.5  # taken, not computed again


def test_requests_commit_while_the_scheduler_computes_figures(db, run, clock, settings, monkeypatch,
                                                              writes_meanwhile):
    """Computing a published answer does not hold the write slot (SQLite: a read-only unit of work beside the
    writers), so a request that writes meanwhile commits at once."""
    add_rows(run, 5, seed=11)
    monkeypatch.setattr(publication, "_compute", writes_meanwhile.around(publication._compute))
    done = publication.refresh(make_session_factory(db), clock, settings)
    assert len(done) == STANDARD and writes_meanwhile.writes == STANDARD


def test_a_question_asked_live_holds_up_no_writer(client, db, clock, monkeypatch, writes_meanwhile):
    """A new question through the API is computed beside the writers (SQLite: in a read-only unit of work,
    the publication stored in a short one of its own), so a request that writes meanwhile commits at once."""
    from onewindow.db import unit_of_work

    monkeypatch.setattr(publication, "_compute", writes_meanwhile.around(publication._compute))
    answer = client.get(URL, params={"port": "CNDAG"})
    assert answer.status_code == 200 and writes_meanwhile.writes == 1
    key = publication.key_of("figures", parse_query({"port": "CNDAG"}), 5)
    with unit_of_work(make_session_factory(db)) as session:
        stored = session.get(ClearancePublication, key)
        assert stored.answer == answer.json() and stored.asked_at == clock.now()


def test_a_question_asked_live_waits_for_whoever_publishes_it_meanwhile(db, run, clock, settings):
    """SQLite: a question not yet published waits for the publication lock (a refresher computing) and then
    serves what was published meanwhile, instead of computing it again."""
    if db.dialect.name != "sqlite":
        pytest.skip("PostgreSQL waits on the key's advisory lock (the test above)")
    from onewindow.context import Context
    from onewindow.db import sqlite_side_lock, unit_of_work

    add_rows(run, 6, seed=15)
    query = parse_query({"port": "CNDAG"})
    key = publication.key_of("figures", query, 5)
    factory = make_session_factory(db)

    def ask() -> dict:
        with unit_of_work(factory, read_only=True) as session:
            return publication.served(Context(session=session, clock=clock, settings=settings), "figures", query, 5)

    result: dict = {}
    with sqlite_side_lock(db, "publication"):
        asking = threading.Thread(target=lambda: result.update(answer=ask()))
        asking.start()
        asking.join(1)
        assert asking.is_alive()  # waiting for the refresher
        theirs = run(lambda ctx: service.figures(ctx, query, min_group=5))
        run(lambda ctx: ctx.session.execute(published_by_another(key, query, theirs)))
    asking.join(30)
    assert result["answer"] == theirs
    assert publications(run)[key].compute_seconds == 0.5  # taken, not computed again
