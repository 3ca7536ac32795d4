"""The models and the migrations agree, and ``init`` (``migrate.upgrade``) can run any number of times."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from onewindow.db import make_engine
from onewindow.migrate import alembic_config, current_revision, upgrade
from onewindow.models import Base, Organisation
from onewindow.parties.service import add_organisation


def _script(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(url))


def _diff(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


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
