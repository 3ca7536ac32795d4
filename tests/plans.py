"""SQLite's query plans, for the tests that hold a read to a seek rather than a walk.

SQLite plans without statistics (no ``ANALYZE`` is run), so the plan of a statement is fixed by its text and
the indexes: an empty database shows the plan a large one gets (the ``sqlite_engine`` fixture of
``tests/conftest.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine


def plan(engine: Engine, statement: Any) -> list[str]:
    """The steps of SQLite's plan for ``statement``, a Core statement or SQL text (any parameter values: the
    plan does not depend on them)."""
    sql = statement if isinstance(statement, str) else str(
        statement.compile(engine, compile_kwargs={"render_postcompile": True}))
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", (None,) * sql.count("?")).fetchall()
    return [row[3] for row in rows]
