"""Objects made from stored rows and put in a session (or made detached) by :mod:`onewindow.rows` in fewer
steps than the ORM's own: held exactly as the ORM's steps (and a query) hold them, written by a flush as the
ORM writes a loaded object, never loaded again when read, returned by the identity map. These tests compare
with SQLAlchemy's own steps, so they fail if SQLAlchemy changes what those do."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from onewindow import rows
from onewindow.db import flush, make_session_factory, unit_of_work
from onewindow.models import Declaration, Filing, Organisation

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def stored(db):
    """A session factory and a stored filing with two declarations (their ids)."""
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        org = Organisation(kind="enterprise", code="91210200MA0QK1P3AF", name="Dalian Trading", created_at=NOW)
        session.add(org)
        session.flush()
        filing = Filing(enterprise_id=org.id, direction="import", port="CNDAG", bill_of_lading="BL1",
                        data={"entry": 1}, created_at=NOW, updated_at=NOW)
        filing.declarations = [Declaration(agency=agency, organisation_id=org.id, office_code="0916", data={},
                                           created_at=NOW, updated_at=NOW) for agency in ("ciq", "customs")]
        session.add(filing)
    return factory, filing.id


def _rows(session, model, **where):
    column = model.__table__.c
    query = select(*rows.columns(model))
    for name, value in where.items():
        query = query.where(column[name] == value)
    return session.execute(query.order_by(column.id)).all()


def _copies(session, filing_id, *, data=True):
    """The filing and its declarations as new objects from their rows (:func:`rows.from_row`), the filing
    without its data unless ``data``."""
    (row,) = _rows(session, Filing, id=filing_id)
    filing = rows.from_row(Filing, row)
    if not data:
        del filing.__dict__["data"]
    declarations = [rows.from_row(Declaration, r, filing=filing) for r in _rows(session, Declaration,
                                                                                 filing_id=filing_id)]
    set_committed_value(filing, "declarations", declarations)
    return filing, declarations


def _held(obj, session=None):
    """What the ORM knows of an object: its state's bookkeeping and its values."""
    state = inspect(obj)
    values = {key: vars(obj)[key] for key in rows.keys(type(obj)) if key in vars(obj)}  # the columns
    return {"key": state.key, "token": state.identity_token, "modified": state.modified, "expired": state.expired,
            "expired_attributes": set(state.expired_attributes), "committed_state": dict(state.committed_state),
            "unloaded": state.unloaded, "callables": dict(state.callables), "strong": state._strong_obj is not None,
            "deleted": state._deleted, "pending_mutations": bool(state.__dict__.get("_pending_mutations")),
            "values": values,
            "in_session": None if session is None else (state.session_id == session.hash_key
                                                       and session.identity_map.get(state.key) is obj),
            "persistent": state.persistent, "detached": state.detached, "dirty": bool(session and obj in session.dirty)}


def _the_orms_place(session, *objects):
    for obj in objects:
        make_transient_to_detached(obj)
        session._update_impl(inspect(obj))


@contextmanager
def _statements(db):
    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db, "before_cursor_execute", record)


@contextmanager
def _rolled_back(factory):
    session = factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.mark.parametrize("data", [True, False], ids=["every column", "a column left out"])
def test_placed_objects_are_held_as_the_orms_own_steps_hold_them(db, stored, data):
    factory, filing_id = stored

    def held(place):
        with _rolled_back(factory) as session:
            filing, declarations = _copies(session, filing_id, data=data)
            place(session, filing, *declarations)
            return [_held(obj, session) for obj in (filing, *declarations)], set(session.identity_map.keys())

    mine, theirs = held(rows.place), held(_the_orms_place)
    assert mine == theirs
    assert all(state["in_session"] and state["persistent"] and not state["dirty"] for state in mine[0])


def test_a_placed_object_is_what_a_query_would_have_loaded_and_the_identity_map_returns_it(db, stored):
    factory, filing_id = stored
    with _rolled_back(factory) as query:
        loaded = query.scalars(select(Filing).where(Filing.id == filing_id)).one()
        theirs = _held(loaded, query)
    with _rolled_back(factory) as session:
        filing, declarations = _copies(session, filing_id)
        rows.place(session, filing, *declarations)
        mine = _held(filing, session)
        for held in (mine, theirs):
            del held["unloaded"]  # the declarations: read by the query's objects when first asked for
        assert mine == theirs
        with _statements(db) as seen:
            assert session.get(Filing, filing_id) is filing
            assert session.get(Declaration, declarations[0].id) is declarations[0]
            assert filing.declarations == declarations and declarations[0].filing is filing
            assert {key: getattr(filing, key) for key in rows.keys(Filing)} == theirs["values"]
        assert seen == []  # nothing loaded again


def test_a_column_left_out_is_loaded_when_first_read_as_the_orms_steps_leave_it(db, stored):
    factory, filing_id = stored
    with _rolled_back(factory) as session:
        filing, declarations = _copies(session, filing_id, data=False)
        rows.place(session, filing, *declarations)
        assert inspect(filing).expired_attributes == {"data"}
        with _statements(db) as seen:
            assert filing.data == {"entry": 1}
            assert filing.data == {"entry": 1}
        assert len(seen) == 1


def test_a_placed_object_changed_is_written_by_the_flush_as_a_loaded_one(db, stored):
    factory, filing_id = stored

    def changed(session, filing, declarations):
        with _statements(db) as seen:
            filing.status = "submitted"
            declarations[0].status = "submitted"
            declarations[1].reject_reason = "why"
            session.flush()
        return seen

    with _rolled_back(factory) as session:
        filing, declarations = _copies(session, filing_id)
        rows.place(session, filing, *declarations)
        placed = changed(session, filing, declarations)
        assert not session.dirty
    with _rolled_back(factory) as session:
        filing = session.scalars(select(Filing).where(Filing.id == filing_id)).one()
        declarations = sorted(filing.declarations, key=lambda d: d.id)
        loaded = changed(session, filing, declarations)
    assert placed == loaded and len(placed) >= 2
    with unit_of_work(factory) as session:  # really written: what a placed object's change writes stays
        filing, declarations = _copies(session, filing_id)
        rows.place(session, filing, *declarations)
        declarations[0].status = "accepted"
    with _rolled_back(factory) as session:
        assert session.get(Declaration, declarations[0].id).status == "accepted"


def test_an_object_whose_key_the_session_holds_is_refused_as_the_orm_refuses_it(stored):
    factory, filing_id = stored
    with _rolled_back(factory) as session:
        filing, declarations = _copies(session, filing_id)
        rows.place(session, filing)
        again, _ = _copies(session, filing_id)
        with pytest.raises(InvalidRequestError, match="another instance with key"):
            rows.place(session, again)
        assert session.get(Filing, filing_id) is filing


def test_listeners_of_attaching_see_each_placed_object(stored):
    factory, filing_id = stored
    with _rolled_back(factory) as session:
        seen = []
        event.listen(session, "before_attach", lambda _s, obj: seen.append(("before", obj)))
        event.listen(session, "detached_to_persistent", lambda _s, obj: seen.append(("persistent", obj)))
        filing, declarations = _copies(session, filing_id)
        rows.place(session, filing, *declarations)
        assert seen == [(when, obj) for obj in (filing, *declarations) for when in ("before", "persistent")]
        assert session.get(Filing, filing_id) is filing


def test_a_changed_object_is_placed_with_its_changes_committed(stored):
    """As ``make_transient_to_detached`` does (a new filing's declarations get their office set first)."""
    factory, filing_id = stored

    def held(place):
        with _rolled_back(factory) as session:
            filing, _ = _copies(session, filing_id)
            filing.bill_of_lading = "BL2"
            assert inspect(filing).modified
            place(session, filing)
            assert not session.dirty and filing.bill_of_lading == "BL2"
            return _held(filing, session)

    assert held(rows.place) == held(_the_orms_place)


@pytest.mark.parametrize("data", [True, False], ids=["every column", "a column left out"])
def test_detached_is_what_make_transient_to_detached_makes(stored, data):
    factory, filing_id = stored
    with _rolled_back(factory) as session:
        mine, _ = _copies(session, filing_id, data=data)
        theirs, _ = _copies(session, filing_id, data=data)
        assert rows.detached(mine) is mine
        make_transient_to_detached(theirs)
        assert _held(mine) == _held(theirs)
        assert inspect(mine).detached


def test_committed_is_what_set_committed_value_does(stored):
    factory, filing_id = stored
    with _rolled_back(factory) as session:
        filing, declarations = _copies(session, filing_id)
        rows.place(session, filing, *declarations)
        mine, theirs = declarations
        for obj in declarations:
            obj.status = "submitted"  # a change recorded, then dropped by the values set as stored
        rows.committed(mine, status="accepted", number="N1")
        set_committed_value(theirs, "status", "accepted")
        set_committed_value(theirs, "number", "N1")
        held, expected = _held(mine, session), _held(theirs, session)
        for state in (held, expected):
            del state["key"], state["values"]["id"], state["values"]["agency"]
        assert held == expected
        assert not inspect(mine).attrs.status.history.has_changes()
        rows.committed(filing, declarations=[mine])  # a collection: as set_committed_value sets it
        assert filing.declarations == [mine] and not inspect(filing).attrs.declarations.history.has_changes()


@pytest.mark.parametrize("data", [True, False], ids=["unchanged", "a column expired"])
def test_committed_is_what_set_committed_value_does_to_an_unchanged_object(db, stored, data):
    factory, filing_id = stored

    def held(commit):
        with _rolled_back(factory) as session:
            filing, _ = _copies(session, filing_id, data=data)
            rows.place(session, filing)
            commit(filing)
            with _statements(db) as seen:
                assert filing.data == {"entry": 2}
            assert seen == []
            return _held(filing, session)

    def one_by_one(filing):
        set_committed_value(filing, "data", {"entry": 2})
        set_committed_value(filing, "version", 2)

    assert held(lambda filing: rows.committed(filing, data={"entry": 2}, version=2)) == held(one_by_one)


def test_objects_gives_held_objects_and_places_the_others(stored):
    factory, filing_id = stored
    with _rolled_back(factory) as session:
        found = _rows(session, Declaration, filing_id=filing_id)
        at = rows.keys(Declaration).index("id")
        held = session.get(Declaration, found[0][at])
        got = rows.objects(session, Declaration, [found[0], *found, found[1]])
        assert got[0] is got[1] is held and got[2] is got[3] is not held
        assert session.get(Declaration, found[1][at]) is got[2] and inspect(got[2]).persistent


def test_flush_writes_what_the_unit_of_work_holds_and_refuses_to_run_inside_a_flush(db, stored):
    factory, _ = stored
    with _rolled_back(factory) as session:
        with _statements(db) as seen:
            flush(session)
        assert seen == []
        org = Organisation(id=uuid.uuid4(), kind="customs", code="0916", name="Dalian Customs", created_at=NOW)
        session.add(org)
        assert rows.holds_new(session, Organisation) and not rows.holds_new(session, Filing)
        flush(session)
        assert not rows.holds_new(session, Organisation) and inspect(org).persistent
        event.listen(session, "before_flush", lambda s, _context, _objects: flush(s))
        session.add(Organisation(kind="ciq", code="210600", name="Dalian CIQ", created_at=NOW))
        with pytest.raises(InvalidRequestError, match="already flushing"):
            flush(session)
