"""The pull feed: own events only, oldest first, every event exactly once by following the cursor."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from onewindow.context import Context
from onewindow.db import make_session_factory
from onewindow.events.service import record_event
from onewindow.parties.service import actor_for
from onewindow.samples import sample_entry

ENT, OTHER = "91210200MA0QK1P3AF", "91210211MA0XY7L2XK"
API = "/api/v1"


def feed(client, headers, after=None, limit=100):
    answer = client.get(f"{API}/events", params={"after": after, "limit": limit} if after else {"limit": limit},
                        headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def follow(client, headers, limit, expect=None):
    """Every event by following ``next`` page after page (until ``expect`` events are seen, if given).

    On PostgreSQL the feed holds back events while any older transaction of the database is still
    running (one that has just ended may still look running for an instant elsewhere), so a reader may
    have to ask again: it never skips.
    """
    seen, cursor, deadline = [], None, time.monotonic() + 20
    while True:
        page = feed(client, headers, cursor, limit)
        seen += page["events"]
        cursor = page["next"]
        if not page["events"] and (expect is None or len(seen) >= expect or time.monotonic() > deadline):
            return seen, cursor
        if not page["events"]:
            time.sleep(0.05)


def filed(client, world, seed):
    filing = client.post(f"{API}/filings", json=sample_entry(seed=seed), headers=world.headers(ENT)).json()
    client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT))
    return filing


def test_each_party_sees_its_own_events_in_order(client, world):
    filing = filed(client, world, 1)
    ent = [e["type"] for e in follow(client, world.headers(ENT), 100, expect=3)[0]]
    assert ent == ["filing.created", "declaration.submitted", "declaration.submitted"]
    customs = follow(client, world.headers("0916"), 100, expect=1)[0]
    assert [(e["type"], e["data"]["agency"]) for e in customs] == [("declaration.submitted", "customs")]
    assert customs[0]["filing_id"] == filing["id"]
    assert feed(client, world.headers(OTHER))["events"] == []  # another enterprise sees nothing of it
    assert feed(client, world.headers("0900"))["events"] == []  # nor another customs office


def test_following_the_cursor_sees_every_event_exactly_once(client, world):
    for seed in range(4):
        filed(client, world, 10 + seed)
    everything, _ = follow(client, world.headers(ENT), 1000, expect=12)
    assert len(everything) == 12
    for limit in (1, 3, 5):
        seen, cursor = follow(client, world.headers(ENT), limit, expect=12)
        assert [e["id"] for e in seen] == [e["id"] for e in everything]
        assert feed(client, world.headers(ENT), cursor)["events"] == []
    _, cursor = follow(client, world.headers(ENT), 5, expect=12)
    filed(client, world, 20)
    seen = []
    deadline = time.monotonic() + 20
    while len(seen) < 3 and time.monotonic() < deadline:
        page = feed(client, world.headers(ENT), cursor)
        seen += page["events"]
        cursor = page["next"]
    assert [e["type"] for e in seen] == ["filing.created", "declaration.submitted", "declaration.submitted"]


def test_confidential_reasons_reach_agencies_only(client, world):
    filing = filed(client, world, 30)
    ids = {d["agency"]: d["id"] for d in filing["declarations"]}
    client.post(f"{API}/declarations/{ids['customs']}/accept", headers=world.headers("0916"))
    number = sample_entry(seed=30)["containers"][0]["number"]
    answer = client.post(f"{API}/declarations/{ids['customs']}/decision",
                         json={"inspect": True, "containers": [number], "kind": "physical", "reason": "R-17"},
                         headers=world.headers("0916"))
    assert answer.status_code == 201, answer.text
    decided = [e for e in follow(client, world.headers("0916"), 100, expect=3)[0] if e["type"] == "inspection.decided"]
    assert decided[0]["confidential"] == {"reason": "R-17"}
    assert all("confidential" not in e and "R-17" not in str(e)
               for e in follow(client, world.headers(ENT), 100, expect=4)[0])


def test_a_bad_cursor_is_422_and_no_token_401(client, world):
    answer = client.get(f"{API}/events", params={"after": "yesterday"}, headers=world.headers(ENT))
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["loc"] == ["query", "after"]
    assert client.get(f"{API}/events").status_code == 401


@pytest.mark.parametrize("cursor", ["-1.5", "0.-3", "999999999999999999999999.1", "0.9223372036854775808"])
def test_a_cursor_with_a_negative_or_too_large_number_is_422(client, world, cursor):
    answer = client.get(f"{API}/events", params={"after": cursor}, headers=world.headers(ENT))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"][0]["loc"] == ["query", "after"]


def test_a_cursor_past_the_end_of_the_log_is_422_not_an_empty_page_for_ever(client, world, db):
    filed(client, world, 42)
    events, cursor = follow(client, world.headers(ENT), 100, expect=3)
    tx, seq = (int(part) for part in cursor.split("."))
    assert feed(client, world.headers(ENT), cursor) == {"events": [], "next": cursor}  # the end, as returned
    assert feed(client, world.headers(OTHER), cursor)["events"] == []  # a position in the log, whoever asks
    past = [f"{tx}.{seq + 1000}", f"{tx + 1_000_000 if db.dialect.name == 'postgresql' else 7}.{seq}"]
    for cursor in past:
        answer = client.get(f"{API}/events", params={"after": cursor}, headers=world.headers(ENT))
        assert answer.status_code == 422, (cursor, answer.text)
        [detail] = answer.json()["error"]["details"]
        assert detail["loc"] == ["query", "after"] and "past the end of the event log" in detail["msg"]
    filed(client, world, 43)  # the log grows: the cursor returned goes on from where it was
    assert [e["type"] for e in follow(client, world.headers(ENT), 100, expect=3)[0][3:]] == [
        "filing.created", "declaration.submitted", "declaration.submitted"]


def test_an_event_of_a_transaction_still_running_is_not_skipped(client, world, db, clock, settings):
    """On PostgreSQL a running transaction's event may have a lower sequence than a committed one:
    the feed waits for it instead of moving its cursor past it."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    factory = make_session_factory(db)
    slow = factory()
    ctx = Context(session=slow, clock=clock, settings=settings)
    ctx = Context(session=slow, clock=clock, settings=settings, actor=actor_for(ctx, ENT))
    org = ctx.actor.org_id
    record_event(ctx, "filing.updated", subject_type="test", subject_id=org, recipients=[org], data={})
    slow.flush()  # its sequence number is taken now, its commit comes later
    filed(client, world, 40)  # committed events with higher sequence numbers
    page = feed(client, world.headers(ENT))
    assert page["events"] == []  # nothing past the running transaction is final yet
    slow.commit()
    slow.close()
    seen, _ = follow(client, world.headers(ENT), 2, expect=4)
    assert [e["type"] for e in seen] == ["filing.updated", "filing.created", "declaration.submitted",
                                         "declaration.submitted"]


def test_a_transaction_running_in_another_database_does_not_hold_the_feed_back(client, world, db):
    """The horizon leaves out transactions that PostgreSQL shows running in another database of the server."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    elsewhere = create_engine(make_url(db.url).set(database="postgres"), pool_size=1)
    with elsewhere.connect() as conn:
        conn.execute(text("SELECT pg_current_xact_id()"))  # a transaction with an id, older than ours, left open
        filed(client, world, 41)
        deadline = time.monotonic() + 5
        while not (page := feed(client, world.headers(ENT)))["events"] and time.monotonic() < deadline:
            time.sleep(0.05)  # a transaction of this database that has just ended
        assert [e["type"] for e in page["events"]] == ["filing.created", "declaration.submitted",
                                                       "declaration.submitted"]
        conn.rollback()
    elsewhere.dispose()


def test_events_tail_prints_the_feed_and_the_cursor(client, world, database_url, monkeypatch):
    from typer.testing import CliRunner

    from onewindow.cli import app
    from onewindow.config import get_settings

    filed(client, world, 50)
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        deadline = time.monotonic() + 60
        while True:  # on PostgreSQL the feed waits out transactions running anywhere on the server
            result = CliRunner().invoke(app, ["events", "tail", "--org", ENT])
            if result.exit_code != 0 or result.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        cursor = result.stderr.strip().split()[-1]
        again = CliRunner().invoke(app, ["events", "tail", "--org", ENT, "--after", cursor])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    import json

    types = [json.loads(line)["type"] for line in result.stdout.splitlines()]
    assert types == ["filing.created", "declaration.submitted", "declaration.submitted"]
    assert again.exit_code == 0 and again.stdout == ""
