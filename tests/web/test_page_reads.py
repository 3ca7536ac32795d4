"""Pages whose reads must not grow with the platform's history: a consignment's timeline reads by the
consignment (its filing's index, its containers' and its inspections' events' indexes) and checks each event
found against the caller's recipient rows, not the caller's whole feed (for an agency's office or a terminal,
every consignment it ever saw); a terminal's yard reads the visits not yet over, not every visit ever recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from onewindow.db import make_engine
from onewindow.migrate import upgrade
from onewindow.models import Filing
from onewindow.web.terminal import yard_query
from onewindow.web.timeline import timeline_query
from tests.plans import plan


def a_filing() -> Filing:
    return Filing(id=uuid.uuid4(), created_at=datetime(2026, 3, 2, tzinfo=UTC),
                  data={"containers": [{"number": "MSKU6033802"}, {"number": "TGHU9920163"}]})


def test_sqlite_finds_the_events_by_the_consignment_and_seeks_each_recipient_row(sqlite_engine):
    steps = plan(sqlite_engine, timeline_query(uuid.uuid4(), a_filing()))
    assert any("USING COVERING INDEX ix_events_filing_seq (filing_id=?)" in s for s in steps), steps
    assert any("USING INDEX ix_events_container_subject (subject_id=?)" in s for s in steps), steps
    assert any("USING INDEX ix_events_inspection_subject (subject_id=?)" in s for s in steps), steps
    recipients = [s for s in steps if "event_recipients" in s]
    assert recipients == ["SEARCH event_recipients USING PRIMARY KEY (organisation_id=? AND tx=? AND event_seq=?)"]
    assert not any(s.startswith("SCAN") for s in steps), steps


@pytest.mark.postgres
def test_postgresql_can_use_the_indexes_of_the_timeline_and_the_yard(fresh_postgres_url):
    """Sequential scans are turned off here: the tables are empty, and would be read whole otherwise."""
    db = make_engine(fresh_postgres_url, pool_size=1)
    upgrade(db)
    try:
        timeline = postgresql_plan(db, timeline_query(uuid.uuid4(), a_filing()))
        assert all(index in timeline for index in ("ix_events_container_subject", "ix_events_filing_seq",
                                                   "ix_events_inspection_subject")), timeline
        assert "ix_container_visits_yard" in postgresql_plan(db, yard_query("CNDAG"))
    finally:
        db.dispose()


def postgresql_plan(db, statement) -> str:
    sql = str(statement.compile(db, compile_kwargs={"render_postcompile": True, "literal_binds": True}))
    with db.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_sqlite_reads_a_yard_from_the_index_of_the_visits_not_yet_over(sqlite_engine):
    steps = plan(sqlite_engine, yard_query("CNDAG"))
    assert steps[0] == "SEARCH container_visits USING INDEX ix_container_visits_yard (port=? AND arrived_at>?)", steps
    assert not any(s.startswith("SCAN") for s in steps), steps
