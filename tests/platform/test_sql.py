"""Prepared statements: the same values in and out as SQLAlchemy's own execution, on both databases."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import bindparam, insert, select, text, update

from onewindow.db import make_session_factory, unit_of_work
from onewindow import rows
from onewindow.models import Event, EventRecipient, Organisation
from onewindow.sql import Prepared

EVENTS = Event.__table__
KEYS = ["id", "type", "occurred_at", "subject_type", "subject_id", "filing_id", "data", "confidential",
        "actor_organisation_id", "tx"]
INSERT_EVENT = Prepared(insert(EVENTS).returning(EVENTS.c.seq), keys=KEYS)
EVENT_BY_SEQ = Prepared(select(EVENTS.c.id, EVENTS.c.occurred_at, EVENTS.c.subject_id, EVENTS.c.filing_id,
                               EVENTS.c.data, EVENTS.c.confidential).where(EVENTS.c.seq == bindparam("seq")))


def _event(**values):
    return {"id": uuid.uuid4(), "type": "filing.created", "occurred_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
            "subject_type": "filing", "subject_id": uuid.uuid4(), "filing_id": None, "data": {"a": [1, "二"]},
            "confidential": None, "actor_organisation_id": None, "tx": 0, **values}


def test_values_come_back_as_written_and_as_the_orm_reads_them(db):
    factory = make_session_factory(db)
    shanghai = timezone(timedelta(hours=8))
    written = _event(occurred_at=datetime(2026, 3, 2, 17, 30, tzinfo=shanghai), filing_id=uuid.uuid4())
    with unit_of_work(factory) as session:
        (seq,) = INSERT_EVENT.first(session, written)
    with unit_of_work(factory) as session:
        row = EVENT_BY_SEQ.first(session, {"seq": seq})
        orm = session.get(Event, seq)
        core_seq = session.execute(insert(EVENTS).returning(EVENTS.c.seq), _event()).scalar_one()
        is_null = text("SELECT confidential IS NULL FROM events WHERE seq = :s")
        nulls = [bool(session.execute(is_null, {"s": s}).scalar()) for s in (seq, core_seq)]
    assert row == (written["id"], datetime(2026, 3, 2, 9, 30, tzinfo=UTC), written["subject_id"],
                   written["filing_id"], {"a": [1, "二"]}, None)
    assert row[1].tzinfo is not None and row[1].utcoffset() == timedelta(0)
    assert (orm.id, orm.occurred_at, orm.data, orm.confidential) == (row[0], row[1], row[4], None)
    # Python None in a JSON column is written as SQLAlchemy's own execution writes it
    assert nulls[0] == nulls[1]


@pytest.mark.parametrize("form", [str, lambda u: u.hex.upper(), lambda u: u.hex])
def test_a_uuid_reads_as_the_orm_reads_it_in_every_form_stored(db, form):
    """SQLAlchemy stores a UUID as its 32 hex digits where the database has no UUID type; one stored another
    way (with hyphens, in capitals) still reads as the ORM reads it."""
    factory = make_session_factory(db)
    subject = uuid.uuid4()
    with unit_of_work(factory) as session:
        (seq,) = INSERT_EVENT.first(session, _event())
        session.execute(text("UPDATE events SET subject_id = :subject WHERE seq = :seq"),
                        {"subject": form(subject), "seq": seq})
    with unit_of_work(factory) as session:
        row = EVENT_BY_SEQ.first(session, {"seq": seq})
        assert row[2] == session.get(Event, seq).subject_id == subject


def test_executemany_rowcount_and_fixed_values(db):
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        seqs = [INSERT_EVENT.first(session, _event())[0] for _ in range(3)]
        INSERT_RECIPIENT = Prepared(insert(EventRecipient.__table__),  # noqa: N806
                                    keys=["event_seq", "organisation_id", "tx"])
        org = Organisation(kind="customs", code="0916", name="Dalian", created_at=datetime.now(UTC))
        session.add(org)
        session.flush()
        INSERT_RECIPIENT.executemany(session, [{"event_seq": s, "organisation_id": org.id, "tx": 0} for s in seqs])
        INSERT_RECIPIENT.executemany(session, [])
        retype = Prepared(update(EVENTS).where(EVENTS.c.seq == bindparam("seq"), EVENTS.c.type == "filing.created")
                          .values(type=bindparam("new_type")))
        assert retype.execute(session, {"seq": seqs[0], "new_type": "filing.updated"}) == 1
        assert retype.execute(session, {"seq": seqs[0], "new_type": "filing.updated"}) == 0  # literal in the SQL
    with unit_of_work(factory) as session:
        types = session.execute(select(EVENTS.c.type).order_by(EVENTS.c.seq)).scalars().all()
        recipients = session.execute(select(EventRecipient.__table__.c.event_seq)).scalars().all()
    assert types == ["filing.updated", "filing.created", "filing.created"]
    assert sorted(recipients) == sorted(seqs)


def test_statements_run_in_the_sessions_transaction(db):
    factory = make_session_factory(db)
    with pytest.raises(RuntimeError), unit_of_work(factory) as session:
        INSERT_EVENT.first(session, _event())
        raise RuntimeError("the request failed")
    with unit_of_work(factory) as session:
        assert session.execute(select(EVENTS.c.seq)).first() is None


def test_a_transactions_statements_share_one_cursor_closed_when_it_ends(db):
    """Each statement of a transaction runs on the transaction's one cursor; the cursor is closed when the
    transaction ends, committed or rolled back, and the next transaction has its own."""
    from onewindow.sql import _CURSOR

    factory = make_session_factory(db)
    cursors = []
    for fails in (False, True):
        with pytest.raises(RuntimeError) if fails else nullcontext(), unit_of_work(factory) as session:
            (seq,) = INSERT_EVENT.first(session, _event())
            cursor = session.info[_CURSOR][1]
            assert EVENT_BY_SEQ.first(session, {"seq": seq}) is not None
            assert Prepared(update(EVENTS).where(EVENTS.c.seq == bindparam("s")).values(type="x")).execute(
                session, {"s": seq}) == 1
            assert session.info[_CURSOR][1] is cursor
            cursors.append(cursor)
            if fails:
                raise RuntimeError("the request failed")
        assert _CURSOR not in session.info
    assert cursors[0] is not cursors[1]
    for cursor in cursors:  # closed: a closed cursor refuses to run anything
        with pytest.raises(Exception, match="(?i)closed"):
            cursor.execute("SELECT 1")
    with unit_of_work(factory) as session:
        assert [row[0] for row in session.execute(select(EVENTS.c.type))] == ["x"]


def test_rows_fill_in_model_defaults_like_the_orm(db):
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        org = Organisation(kind="customs", code="0916", name="Dalian", created_at=datetime.now(UTC))
        session.add(org)
        session.flush()
        seq = INSERT_EVENT.first(session, _event())[0]
        rows.insert(session, EventRecipient, [{"event_seq": seq, "organisation_id": org.id}])  # tx left out
    with unit_of_work(factory) as session:
        assert session.execute(select(EventRecipient.__table__.c.tx)).scalar_one() == 0


def test_statements_needing_work_per_call_are_refused_when_first_run(db):
    factory = make_session_factory(db)
    expanding = Prepared(select(EVENTS.c.seq).where(EVENTS.c.type.in_(bindparam("types", expanding=True))))
    defaults = Prepared(insert(EventRecipient.__table__), keys=["event_seq", "organisation_id"])
    with unit_of_work(factory) as session:
        with pytest.raises(ValueError, match="expanding parameter types"):
            expanding.all(session, {"types": ["a"]})
        with pytest.raises(ValueError, match="defaults of tx"):
            defaults.executemany(session, [{"event_seq": 1, "organisation_id": uuid.uuid4()}])


def test_uuid_parameters_are_written_as_sqlalchemy_writes_them(db):
    """A UUID parameter of a prepared statement is converted as SQLAlchemy's own execution converts it."""
    from sqlalchemy import Uuid

    from onewindow.sql import _bind_conversion

    dialect = db.dialect
    for type_ in (Uuid(), Uuid(native_uuid=False), Uuid(as_uuid=False)):
        ours = _bind_conversion(type_, type_.bind_processor(dialect), dialect)
        theirs = type_.bind_processor(dialect) or (lambda value: value)
        values = [None, "0b5c7d1e-6a3f-4f8e-9d2a-1c3b5e7f9a0b"] if not type_.as_uuid else \
            [None, uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=255)]
        for value in values:
            assert (ours or (lambda v: v))(value) == theirs(value)
    subject, filing = uuid.uuid4(), uuid.UUID(int=7)
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        (seq,) = INSERT_EVENT.first(session, _event(subject_id=subject, filing_id=filing))
        core_seq = session.execute(insert(EVENTS).returning(EVENTS.c.seq),
                                   _event(subject_id=subject, filing_id=filing)).scalar_one()
        stored = text("SELECT CAST(subject_id AS TEXT), CAST(filing_id AS TEXT) FROM events WHERE seq = :s")
        assert session.execute(stored, {"s": seq}).one() == session.execute(stored, {"s": core_seq}).one()


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.sampled_from(
    [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-11, minutes=-30)), ZoneInfo("Asia/Shanghai"),
     ZoneInfo("America/New_York")])))
def test_utc_datetimes_are_converted_as_sqlalchemy_converts_them(value):
    """Where the UTC timestamp type has shorter conversions for prepared statements (SQLite), they write and
    read what SQLAlchemy's own do; naive datetimes are refused the same way."""
    from sqlalchemy.dialects import postgresql, sqlite

    from onewindow.models.base import UTCDateTime

    type_ = UTCDateTime()
    assert type_.prepared_conversions(postgresql.dialect()) is None
    dialect = sqlite.dialect()
    write, read = type_.prepared_conversions(dialect)
    theirs = type_.dialect_impl(dialect)  # as SQLAlchemy's compiler takes them
    their_write, their_read = theirs.bind_processor(dialect), theirs.result_processor(dialect, None)
    written = write(value)
    assert written == their_write(value)
    assert read(written) == their_read(written) and read(written).utcoffset() == timedelta(0)
    assert (write(None), read(None)) == (their_write(None), their_read(None)) == (None, None)
    for convert in (write, their_write):
        with pytest.raises(ValueError, match="naive"):
            convert(value.replace(tzinfo=None))


def test_prepared_statements_write_and_read_datetimes_as_sqlalchemy_does(db):
    from onewindow.sql import _Compiled

    factory = make_session_factory(db)
    moments = [datetime(2026, 3, 2, 17, 30, tzinfo=timezone(timedelta(hours=8))),
               datetime(2026, 3, 2, 9, 30, 0, 1, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    stored = text("SELECT CAST(occurred_at AS TEXT) FROM events WHERE seq = :s")
    for moment in moments:
        with unit_of_work(factory) as session:
            (seq,) = INSERT_EVENT.first(session, _event(occurred_at=moment))
            core_seq = session.execute(insert(EVENTS).returning(EVENTS.c.seq), _event(occurred_at=moment)).scalar_one()
            assert session.execute(stored, {"s": seq}).scalar() == session.execute(stored, {"s": core_seq}).scalar()
            assert EVENT_BY_SEQ.first(session, {"seq": core_seq})[1] == moment
            core = session.execute(select(EVENTS.c.occurred_at).where(EVENTS.c.seq == seq)).scalar_one()
            assert EVENT_BY_SEQ.first(session, {"seq": seq})[1] == core == moment
            assert core.utcoffset() == timedelta(0)
    if db.dialect.name == "sqlite":  # the shorter forms are the ones used
        compiled: _Compiled = EVENT_BY_SEQ._compiled(db.dialect)
        assert dict(compiled.results)[1].__qualname__ == "UTCDateTime.prepared_conversions.<locals>.read"
        assert dict(INSERT_EVENT._compiled(db.dialect).binds)["occurred_at"].__qualname__ \
            == "UTCDateTime.prepared_conversions.<locals>.write"


def test_positional_parameters_are_given_in_the_statements_order(db):
    """Where the driver takes parameters by position (SQLite), each statement gets them in its SQL's order,
    a parameter used twice given twice."""
    twice = Prepared(select(EVENTS.c.seq).where((EVENTS.c.type == bindparam("t")) | (EVENTS.c.subject_type
                                                                                       == bindparam("t")),
                                                EVENTS.c.seq > bindparam("after")))
    one = Prepared(select(EVENTS.c.seq).where(EVENTS.c.seq == bindparam("s")))
    none = Prepared(select(EVENTS.c.seq).where(EVENTS.c.type == "x"))
    for prepared, values in ((twice, {"after": 0, "t": "filing"}), (one, {"s": 3}), (none, {}),
                             (INSERT_EVENT, _event())):
        compiled = prepared._compiled(db.dialect)
        given = compiled.parameters(values)
        if compiled.positional:
            converted = {**compiled.fixed, **values}
            for name, convert in compiled.binds:
                converted[name] = convert(converted[name])
            assert list(given) == [converted[name] for name in compiled.names]
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        (seq,) = INSERT_EVENT.first(session, _event(type="filing", subject_type="declaration"))
        assert twice.all(session, {"after": 0, "t": "declaration"}) == [(seq,)]
        assert twice.all(session, {"after": seq, "t": "filing"}) == []


def _two_lists() -> list[tuple[list[str], list[str]]]:
    types, subjects = ["filing.created", "filing.submitted", "declaration.accepted", "absent.type"], \
        ["filing", "declaration", "container", "absent"]
    return [(types[:n], subjects[:m]) for n in range(1, 5) for m in range(1, 5)] + [
        (["filing.created", "filing.created"], ["filing", "absent", "filing"]), (["absent.type"], ["filing"])]


def test_a_statement_with_two_in_lists_reads_what_the_expanding_statement_reads(db):
    """Each list is padded to its own length (powers of two, several combinations): the rows are those of the
    expanding statement run by SQLAlchemy, in the same order."""
    from onewindow.sql import PreparedIn

    statement = (select(EVENTS.c.seq, EVENTS.c.type, EVENTS.c.subject_type, EVENTS.c.occurred_at)
                 .where(EVENTS.c.type.in_(bindparam("types", expanding=True)),
                        EVENTS.c.subject_type.in_(bindparam("subjects", expanding=True)),
                        EVENTS.c.seq > bindparam("after"))
                 .order_by(EVENTS.c.seq))
    prepared = PreparedIn(statement, "types", "subjects")
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        for i, (type_, subject) in enumerate([("filing.created", "filing"), ("filing.submitted", "filing"),
                                              ("declaration.accepted", "declaration"), ("filing.created", "x"),
                                              ("container.arrived", "container"), ("filing.submitted", "filing")]):
            INSERT_EVENT.first(session, _event(type=type_, subject_type=subject,
                                               occurred_at=datetime(2026, 3, 2, 9, i, tzinfo=UTC)))
    with unit_of_work(factory) as session:
        found = []
        for types, subjects in _two_lists():
            for after in (0, 2):
                values = {"types": types, "subjects": subjects, "after": after}
                ours = prepared.all(session, values)
                assert ours == [tuple(row) for row in session.execute(statement, values)]
                found.append(len(ours))
        with pytest.raises(ValueError, match="IN list subjects is empty"):
            prepared.all(session, {"types": ["filing.created"], "subjects": [], "after": 0})
    assert max(found) >= 3 and 0 in found
    assert set(prepared._by_lengths) >= {(1, 1), (2, 4), (4, 2), (4, 4)}


def test_an_update_or_delete_with_in_lists_changes_what_sqlalchemy_changes(db):
    """:meth:`PreparedIn.execute` runs a ``DELETE`` (or ``UPDATE``) with padded lists: the same rows change as
    with the expanding statement, and it answers how many."""
    from sqlalchemy import delete

    from onewindow.sql import PreparedIn

    statement = delete(EVENTS).where(EVENTS.c.type.in_(bindparam("types", expanding=True)),
                                     EVENTS.c.subject_type == bindparam("subject"))
    prepared = PreparedIn(statement, "types")
    kinds = ["a", "b", "c", "d", "e", "f"]
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        for subject in ("ours", "core"):
            for kind in kinds:
                INSERT_EVENT.first(session, _event(type=kind, subject_type=subject))
    with unit_of_work(factory) as session:
        changed = [(prepared.execute(session, {"types": types, "subject": "ours"}),
                    session.execute(statement, {"types": types, "subject": "core"}).rowcount)
                   for types in (["a", "x", "b"], ["c"], ["c", "x"], ["d", "d", "e", "d", "e"])]
    assert changed == [(2, 2), (1, 1), (0, 0), (2, 2)]
    with unit_of_work(factory) as session:
        left = session.execute(select(EVENTS.c.type, EVENTS.c.subject_type)).all()
    assert sorted(left) == [("f", "core"), ("f", "ours")]


def test_repeating_columns_are_converted_once_per_value(db):
    """A column named ``repeating`` reads the same values as without (NULLs too); where the database's values
    are converted (UUIDs on SQLite), the rows holding one value share one converted object."""
    filings = [uuid.uuid4(), uuid.uuid4()]
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        for i in range(7):
            INSERT_EVENT.first(session, _event(filing_id=None if i == 3 else filings[i % 2],
                                               occurred_at=datetime(2026, 3, 2, 9, i, tzinfo=UTC)))
    statement = select(EVENTS.c.filing_id, EVENTS.c.seq, EVENTS.c.subject_id, EVENTS.c.occurred_at,
                       EVENTS.c.data).order_by(EVENTS.c.seq)
    plain, repeating = Prepared(statement), Prepared(statement, repeating=["filing_id"])
    with unit_of_work(factory) as session:
        core = [tuple(row) for row in session.execute(statement)]
        assert plain.all(session) == repeating.all(session) == core  # more rows than conversions: by column
        assert [row[0] for row in core] == [filings[0], filings[1], filings[0], None, filings[0], filings[1],
                                            filings[0]]
        rows = repeating.all(session)
        compiled = repeating._compiled(db.dialect)
        if compiled.shared:
            assert rows[0][0] is rows[2][0] is rows[6][0] and rows[1][0] is rows[5][0]
        assert Prepared(statement.limit(1), repeating=["filing_id"]).all(session) == core[:1]  # row by row
        with pytest.raises(ValueError, match="no result column nothing"):
            Prepared(statement, repeating=["nothing"]).all(session)


@pytest.mark.parametrize("stored", [{"a": [1, "二"], "b": None}, [1, 2, {"c": True}], "text", None, True, {}])
def test_json_values_and_their_parts_read_as_sqlalchemy_reads_them(db, stored):
    """JSON columns, and parts of them, read the values SQLAlchemy's own execution reads (on SQLite through
    the JSON deserializer itself)."""
    statement = select(EVENTS.c.data, EVENTS.c.data["a"].label("a"), EVENTS.c.data[("a", 1)].label("a1"),
                       EVENTS.c.data["b"].label("b")).where(EVENTS.c.seq == bindparam("seq"))
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        (seq,) = INSERT_EVENT.first(session, _event(data=stored))
    with unit_of_work(factory) as session:
        assert Prepared(statement).first(session, {"seq": seq}) == tuple(session.execute(statement, {"seq": seq}).one())


def test_json_is_read_with_the_deserializer_itself_unless_sqlalchemy_does_more():
    """SQLite: the dialect's deserializer (the same values as SQLAlchemy's two wrappers of it), except one that
    refuses a number with ``TypeError``, whose wrappers give the number instead; elsewhere SQLAlchemy's own."""
    import json

    import orjson
    from sqlalchemy import JSON
    from sqlalchemy.dialects import postgresql, sqlite

    from onewindow.sql import _result_conversion

    dialect = sqlite.dialect(json_deserializer=orjson.loads)  # the platform's
    theirs = JSON().dialect_impl(dialect).result_processor(dialect, None)
    assert _result_conversion(JSON(), dialect) is orjson.loads
    for text_ in ('{"a": [1, "二"]}', "[]", '"x"', "null", "true", "1.5"):
        assert orjson.loads(text_) == theirs(text_)
    dialect = sqlite.dialect(json_deserializer=json.loads)  # refuses a number with TypeError
    ours = _result_conversion(JSON(), dialect)
    assert ours is not json.loads and ours(5) == 5 and ours('{"a": 1}') == {"a": 1}
    assert _result_conversion(JSON(), postgresql.dialect(json_deserializer=orjson.loads)) is not orjson.loads


def test_a_statement_spelt_per_dialect(db):
    """A mapping of dialect name → statement runs the database's own, or the ``"default"`` one."""
    from sqlalchemy import literal

    per_dialect = Prepared({"postgresql": select(literal("postgresql").label("x")),
                            "default": select(literal("other").label("x"))})
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        answer = per_dialect.first(session)
    assert answer == ("postgresql" if db.dialect.name == "postgresql" else "other",)


def test_a_none_parameter_is_converted_only_where_the_conversion_makes_something_of_it(db):
    """None is passed as it is where the conversion would give None anyway (timestamps, UUIDs); a JSON column
    still has None converted (JSON null, as SQLAlchemy writes it)."""
    compiled = INSERT_EVENT._compiled(db.dialect)
    converted = dict(compiled.binds)
    assert "data" in compiled.none_converted
    assert not {"occurred_at", "subject_id", "filing_id"} & compiled.none_converted
    assert all(converted[name](None) is None for name in converted.keys() - compiled.none_converted)
    factory = make_session_factory(db)
    nulls = text("SELECT filing_id IS NULL, data IS NULL, CAST(data AS TEXT) FROM events WHERE seq = :s")
    with unit_of_work(factory) as session:
        (seq,) = INSERT_EVENT.first(session, _event(filing_id=None, data=None))
        core_seq = session.execute(insert(EVENTS).returning(EVENTS.c.seq),
                                   _event(filing_id=None, data=None)).scalar_one()
        assert session.execute(nulls, {"s": seq}).one() == session.execute(nulls, {"s": core_seq}).one()
        assert EVENT_BY_SEQ.first(session, {"seq": seq})[3:5] == (None, None)


def test_the_driver_s_errors_come_as_sqlalchemy_raises_them(db):
    """A key taken twice is an ``IntegrityError`` (the API's 409), whichever way the statement ran; the driver's
    own error is kept as ``orig``. Nothing of the transaction is kept."""
    from sqlalchemy.exc import IntegrityError

    factory = make_session_factory(db)
    taken = uuid.uuid4()
    with unit_of_work(factory) as session:
        INSERT_EVENT.first(session, _event(id=taken))
    for run in (lambda s: INSERT_EVENT.first(s, _event(id=taken)),
                lambda s: INSERT_EVENT.executemany(s, [_event(), _event(id=taken)])):
        with pytest.raises(IntegrityError) as raised, unit_of_work(factory) as session:
            run(session)
        assert isinstance(raised.value.orig, db.dialect.loaded_dbapi.IntegrityError)
    with unit_of_work(factory) as session:
        assert session.execute(select(EVENTS.c.id)).scalars().all() == [taken]
