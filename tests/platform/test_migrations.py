"""The models and the migrations agree, and ``init`` (``migrate.upgrade``) can run any number of times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from onewindow.db import make_engine
from onewindow.migrate import alembic_config, current_revision, made_here, upgrade
from onewindow.models import Base, ContainerVisit, Event, EventRecipient, Organisation, SinkCursor
from onewindow.parties.service import add_organisation

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def _script(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(url))


def _diff(engine) -> list:
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": made_here(conn.dialect.name)}
        return compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)


def test_the_migrated_schema_matches_the_models(db):
    assert _diff(db) == []


def test_every_table_of_the_models_exists(db):
    tables = set(inspect(db).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert tables - set(Base.metadata.tables) == {"alembic_version"}


def test_current_revision_is_the_single_head(db):
    script = _script(db.url.render_as_string(hide_password=False))
    heads = script.get_heads()
    assert len(heads) == 1
    assert current_revision(db) == heads[0] == script.get_current_head()
    # The history is one line from the base to the head.
    revisions = list(script.walk_revisions())
    assert revisions[0].revision == heads[0] and revisions[-1].down_revision is None


def test_upgrade_is_idempotent_and_keeps_the_data(db, run):
    run(lambda ctx: add_organisation(ctx, kind="customs", code="0916", name="大窑湾海关"))
    before = current_revision(db)
    upgrade(db)
    upgrade(db)
    assert current_revision(db) == before
    with db.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    assert run(lambda ctx: [o.code for o in ctx.session.scalars(select(Organisation))]) == ["0916"]
    assert _diff(db) == []


def test_a_new_database_is_built_from_nothing_and_can_go_down_and_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'onewindow.db'}"
    engine = make_engine(url, pool_size=1)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        head = _script(url).get_current_head()
        assert current_revision(engine) == head
        assert _diff(engine) == []

        cfg = alembic_config(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head
        assert _diff(engine) == []
    finally:
        engine.dispose()


def test_the_recipients_of_events_are_keyed_in_feed_order_and_the_log_s_pair_indexed_where_it_varies(db):
    """One b-tree per recipient row (its key is the feed's order; on SQLite the rows are stored in it), and the
    index of the log's (tx, seq) only on PostgreSQL: on SQLite tx is always 0 and seq is the table's own key."""
    inspector = inspect(db)
    postgres = db.dialect.name == "postgresql"
    assert inspector.get_pk_constraint("event_recipients")["constrained_columns"] == [
        "organisation_id", "tx", "event_seq"]
    assert inspector.get_indexes("event_recipients") == []
    assert ("ix_events_tx_seq" in {i["name"] for i in inspector.get_indexes("events")}) is postgres
    if not postgres:
        with db.connect() as conn:
            sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'event_recipients'").scalar()
        assert sql.rstrip().endswith("WITHOUT ROWID")


def test_only_the_items_made_on_a_database_are_compared_there():
    """``made_here``: an index the models make only on PostgreSQL (``ddl_if``) is not missing on SQLite."""
    [index] = [i for i in Base.metadata.tables["events"].indexes if i.name == "ix_events_tx_seq"]
    [other] = [i for i in Base.metadata.tables["events"].indexes if i.name == "ix_events_filing_seq"]
    assert made_here("postgresql")(index, index.name, "index", False, None)
    assert not made_here("sqlite")(index, index.name, "index", False, None)
    assert not made_here("sqlite")(index, index.name, "index", True, index)  # as found in a database
    assert made_here("sqlite")(other, other.name, "index", False, None)


@pytest.mark.parametrize(("table", "name", "columns", "where"), [
    ("events", "ix_events_container_subject", ["subject_id"], ("subject_type", "'container'")),  # 0017
    ("container_visits", "ix_container_visits_yard", ["port", "arrived_at"], ("gated_out_at", "IS NULL")),  # 0018
])
def test_partial_indexes_hold_only_their_rows(db, table, name, columns, where):
    """The reads of a timeline and of a yard go by indexes of the few rows they look for."""
    [index] = [i for i in inspect(db).get_indexes(table) if i["name"] == name]
    assert index["column_names"] == columns
    text = str(index["dialect_options"][f"{db.dialect.name}_where"])
    assert all(word in text for word in where), text


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_event_log_s_rows_move_to_the_feed_order_and_back(kind, tmp_path, request):
    """Migration 0016 keeps every event and recipient, up and down (SQLite moves the rows to a new table)."""
    url = (f"sqlite:///{tmp_path / 'log.db'}" if kind == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    engine = make_engine(url, pool_size=1)
    cfg = alembic_config(url)

    def migrate(to: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.upgrade if to == "0016" else command.downgrade)(cfg, to)

    def stored() -> tuple[list, list]:
        with engine.connect() as conn:
            return (conn.execute(select(Event.seq, Event.tx, Event.id).order_by(Event.seq)).all(),
                    sorted(conn.execute(select(EventRecipient.event_seq, EventRecipient.organisation_id,
                                               EventRecipient.tx)).all()))

    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0015")
        orgs = [uuid.uuid4(), uuid.uuid4()]
        with engine.begin() as conn:
            conn.execute(insert(Organisation), [dict(id=o, kind="customs", code=f"09{i}6", name="x", created_at=NOW)
                                                for i, o in enumerate(orgs)])
            conn.execute(insert(Event), [dict(seq=s, tx=tx, id=uuid.uuid4(), type="filing.created", occurred_at=NOW,
                                              subject_type="filing", subject_id=uuid.uuid4(), data={})
                                         for s, tx in ((1, 7), (2, 7), (3, 9))])
            conn.execute(insert(EventRecipient), [dict(event_seq=s, organisation_id=o, tx=tx)
                                                  for s, o, tx in ((1, orgs[0], 7), (1, orgs[1], 7), (3, orgs[1], 9))])
        before = stored()
        migrate("0016")
        assert stored() == before
        assert inspect(engine).get_pk_constraint("event_recipients")["constrained_columns"] == [
            "organisation_id", "tx", "event_seq"]
        migrate("0015")
        assert stored() == before
        assert inspect(engine).get_pk_constraint("event_recipients")["constrained_columns"] == [
            "event_seq", "organisation_id"]
        assert {i["name"] for i in inspect(engine).get_indexes("event_recipients")} == {
            "ix_event_recipients_org_tx_seq"}
        assert "ix_events_tx_seq" in {i["name"] for i in inspect(engine).get_indexes("events")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_open_visits_held_twice_are_merged_into_the_earliest_before_one_open_visit_per_container(
        kind, tmp_path, request):
    """Migration 0021: a container's open visits become its earliest, which takes what only a later one held
    (an arrival recorded on it); visits that are over, and containers with one open visit, stay as they were;
    then a second open visit of a container is refused."""
    url = (f"sqlite:///{tmp_path / 'visits.db'}" if kind == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    engine = make_engine(url, pool_size=1)
    cfg = alembic_config(url)

    def migrate(to: str) -> None:
        with engine.connect() as conn:  # as onewindow.migrate.upgrade (0018 builds an index outside a transaction)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)

    def visit(number, minute, **values):
        return dict(id=uuid.uuid4(), number=number, created_at=NOW.replace(minute=minute), port=None,
                    terminal_id=None, conveyance=None, voyage=None, arrived_at=None, released_at=None,
                    gated_out_at=None) | values

    try:
        migrate("0020")
        arrived = NOW.replace(minute=30)
        expected = visit("TGHU9157488", 1, port="CNDAG")  # opened by a decision before the arrival
        rows = [expected, visit("TGHU9157488", 2, port="CNDAG", arrived_at=arrived, voyage="101E"),
                visit("TGHU9157488", 3, port="CNDAG", conveyance="COSCO AFRICA", voyage="999W"),
                visit("TGHU9157488", 0, port="CNDAG", arrived_at=NOW, gated_out_at=NOW.replace(minute=1)),
                visit("CSQU3054383", 5, port="CNDAG", arrived_at=arrived)]
        with engine.begin() as conn:
            conn.execute(insert(ContainerVisit), rows)
            conn.execute(insert(SinkCursor), [dict(name=name, tx=7, seq=1, published=3, updated_at=NOW)
                                              for name in ("clearance", "broker")])
        migrate("0021")
        with engine.connect() as conn:  # the study is recomputed by its rule on which visit counts
            assert conn.execute(select(SinkCursor.name)).scalars().all() == ["broker"]
        with engine.connect() as conn:
            kept = conn.execute(select(ContainerVisit.id, ContainerVisit.number, ContainerVisit.arrived_at,
                                       ContainerVisit.conveyance, ContainerVisit.voyage, ContainerVisit.gated_out_at)
                                .order_by(ContainerVisit.number, ContainerVisit.created_at)).all()
        assert [(r.id, r.number, r.arrived_at, r.conveyance, r.voyage, r.gated_out_at) for r in kept] == [
            (rows[4]["id"], "CSQU3054383", arrived, None, None, None),
            (rows[3]["id"], "TGHU9157488", NOW, None, None, NOW.replace(minute=1)),
            (expected["id"], "TGHU9157488", arrived, "COSCO AFRICA", "101E", None)]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(ContainerVisit), [visit("CSQU3054383", 9)])
        with engine.begin() as conn:  # a visit that is over does not count
            conn.execute(insert(ContainerVisit), [visit("CSQU3054383", 9, gated_out_at=NOW)])
    finally:
        engine.dispose()
