"""A consignment's timeline reads by the consignment (its filing's index, its containers' events' index) and
checks each event found against the caller's recipient rows: the work does not grow with the caller's feed,
which for an agency's office or a terminal holds every consignment it ever saw."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from onewindow.db import make_engine
from onewindow.migrate import upgrade
from onewindow.models import Filing
from onewindow.web.timeline import timeline_query
from tests.plans import plan


def a_filing() -> Filing:
    return Filing(id=uuid.uuid4(), created_at=datetime(2026, 3, 2, tzinfo=UTC),
                  data={"containers": [{"number": "MSKU6033802"}, {"number": "TGHU9920163"}]})


def test_sqlite_finds_the_events_by_the_consignment_and_seeks_each_recipient_row(sqlite_engine):
    steps = plan(sqlite_engine, timeline_query(uuid.uuid4(), a_filing()))
    assert any("USING COVERING INDEX ix_events_filing_seq (filing_id=?)" in s for s in steps), steps
    assert any("USING INDEX ix_events_container_subject (subject_id=?)" in s for s in steps), steps
    recipients = [s for s in steps if "event_recipients" in s]
    assert recipients == ["SEARCH event_recipients USING PRIMARY KEY (organisation_id=? AND tx=? AND event_seq=?)"]
    assert not any(s.startswith("SCAN") for s in steps), steps


@pytest.mark.postgres
def test_postgresql_can_use_the_container_events_index(fresh_postgres_url):
    """PostgreSQL can use both indexes for the timeline (sequential scans are turned off here: the tables are
    empty, and would be read whole otherwise)."""
    db = make_engine(fresh_postgres_url, pool_size=1)
    upgrade(db)
    statement = timeline_query(uuid.uuid4(), a_filing())
    sql = str(statement.compile(db, compile_kwargs={"render_postcompile": True, "literal_binds": True}))
    with db.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        steps = [row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}")]
    assert any("ix_events_container_subject" in s for s in steps), steps
    assert any("ix_events_filing_seq" in s for s in steps), steps
    db.dispose()
