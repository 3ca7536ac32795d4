"""Reading the event log after a position (``sql.after_in_log``): the same rows as comparing ``(tx, seq)``
pairs, and on SQLite a seek to the position rather than a walk through every row before it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, func, insert, select, tuple_

from onewindow.db import make_session_factory, unit_of_work
from onewindow.events import deliveries
from onewindow.events.feed import read_feed
from onewindow.models import Event, EventRecipient
from onewindow.models.event import recipient_of
from onewindow.sql import after_in_log
from onewindow.timing import projection
from tests.plans import plan

E = Event.__table__


def test_the_rows_after_a_position_are_those_whose_pair_is_greater(db):
    """On PostgreSQL ``tx`` is the writing transaction's id; on SQLite it is 0 for every event (one writer
    at a time), the only log SQLite ever holds."""
    sqlite = db.dialect.name == "sqlite"
    positions = [(0, s) for s in range(1, 9)] if sqlite else [(7, 3), (5, 4), (5, 6), (9, 1), (7, 8), (9, 2)]
    with unit_of_work(make_session_factory(db)) as session:
        for tx, seq in positions:
            session.execute(insert(E).values(seq=seq, tx=tx, id=uuid.uuid4(), type="filing.created",
                                             occurred_at=func.current_timestamp(), subject_type="filing",
                                             subject_id=uuid.uuid4(), data={}))
    cursors = [(0, 0), (0, 4), (0, 8)] if sqlite else [(0, 0), (5, 4), (5, 6), (7, 3), (7, 9), (9, 2)]
    with unit_of_work(make_session_factory(db), read_only=True) as session:
        for after in cursors:
            order = (E.c.tx, E.c.seq)
            found = session.execute(select(*order).where(after_in_log(*order, *after)).order_by(*order)).all()
            assert [tuple(r) for r in found] == sorted(p for p in positions if p > after), after
            if not sqlite:
                compared = session.execute(select(*order).where(tuple_(*order) > tuple_(*after))
                                           .order_by(*order)).all()
                assert found == compared


@pytest.mark.parametrize(("name", "seek"), [
    ("projection's page", "SEARCH events USING INTEGER PRIMARY KEY (rowid>?)"),  # the log's order is seq's there
    ("relay's fan-out page", "USING PRIMARY KEY (organisation_id=? AND tx=? AND event_seq>?)"),  # the feed's
])
def test_sqlite_seeks_to_the_position(sqlite_engine, name, seek):
    statement = {"projection's page": projection._EVENT_PAGE,
                 "relay's fan-out page": deliveries._statements("sqlite").events}[name]
    steps = plan(sqlite_engine, statement)
    assert any(seek in s for s in steps), steps


def test_the_feed_seeks_to_the_caller_s_position_on_sqlite(sqlite_engine):
    from onewindow.clock import SystemClock
    from onewindow.config import Settings
    from onewindow.context import Context
    from onewindow.parties.service import actor_for, add_organisation, ensure_user

    factory = make_session_factory(sqlite_engine)
    with unit_of_work(factory) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=Settings())
        ensure_user(ctx, add_organisation(ctx, kind="customs", code="0916", name="0916"), "staff")
    seen: list[str] = []

    def statement(_conn, _cursor, sql, *_args) -> None:
        seen.append(sql)

    event.listen(sqlite_engine, "before_cursor_execute", statement)
    try:
        with unit_of_work(factory, read_only=True) as session:
            ctx = Context(session=session, clock=SystemClock(), settings=Settings())
            ctx = Context(session=session, clock=ctx.clock, settings=ctx.settings, actor=actor_for(ctx, "0916"))
            read_feed(ctx, "0.0", 10)
    finally:
        event.remove(sqlite_engine, "before_cursor_execute", statement)
    [feed] = [sql for sql in seen if "event_recipients" in sql]
    steps = plan(sqlite_engine, feed)
    assert any("organisation_id=? AND tx=? AND event_seq>?" in s for s in steps), steps


def test_from_an_event_to_its_recipient_is_one_seek_of_the_whole_key_on_sqlite(sqlite_engine):
    """The recipients are keyed in each organisation's feed order: from an event (one being redelivered), its
    recipient row is found by the organisation and the event's own place in the log, ``tx`` and ``seq``
    (:func:`recipient_of`)."""
    statement = select(Event).join(EventRecipient, recipient_of(uuid.uuid4())).where(Event.id == uuid.uuid4())
    assert plan(sqlite_engine, statement) == [
        "SEARCH events USING INDEX sqlite_autoindex_events_1 (id=?)",
        "SEARCH event_recipients USING PRIMARY KEY (organisation_id=? AND tx=? AND event_seq=?)"]
