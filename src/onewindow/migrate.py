"""Create or upgrade a database to the newest schema (``onewindow init``)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("onewindow") / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied to ``engine``'s database, in one transaction (Alembic's) but for
    a migration's steps that cannot run in one (an index built concurrently on PostgreSQL)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def head_revision() -> str:
    """The newest schema revision this code ships (what ``onewindow init`` upgrades to)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema's revision, or None for a database never initialised."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def made_here(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for a database of ``dialect``: the schema items the models create only on
    other databases (``ddl_if(dialect=...)``, like the log's ``(tx, seq)`` index, PostgreSQL's alone) are left
    out of the comparison of the models with the database."""

    def include(item: Any, _name: str | None, _type: str, reflected: bool, compare_to: Any) -> bool:
        model = compare_to if reflected else item
        condition = getattr(model, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        wanted = condition.dialect
        return dialect == wanted if isinstance(wanted, str) else dialect in wanted

    return include
