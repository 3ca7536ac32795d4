"""Scoped reads cost the same however much is stored: SQLite's query plans for them probe indexes.

SQLite plans without statistics (see ``tests/plans.py``). ``LIST SUBQUERY`` (a list built in full before the
outer row is checked) or a ``SCAN`` would read every inspection of an
organisation, or every task of a port, on each request. PostgreSQL chooses by
statistics and is not held to these plans here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from onewindow.context import Actor
from onewindow.inspections import attendance, recipients, repository, terminal
from onewindow.models import Organisation
from onewindow.web.agency import office_inspections
from tests.plans import plan


def reads_in_full(steps: list[str]) -> list[str]:
    return [s for s in steps if "LIST SUBQUERY" in s or s.startswith("SCAN")]


@pytest.mark.parametrize("scope", ["agency", "enterprise", "terminal"])
@pytest.mark.parametrize("for_update", [False, True])
def test_one_inspection_is_checked_by_its_own_rows_in_every_scope(sqlite_engine, scope, for_update):
    for statement in (repository._one_prepared(scope, for_update).statement,
                      repository._one_statement(scope, for_update)):
        steps = plan(sqlite_engine, statement)
        assert not reads_in_full(steps), steps
        assert any("inspections USING INDEX sqlite_autoindex_inspections_1 (id=?)" in s for s in steps), steps


def test_an_agency_s_part_in_an_inspection_is_one_probe_of_both_columns(sqlite_engine):
    steps = plan(sqlite_engine, repository._one_prepared("agency", False).statement)
    assert any("ix_inspection_participants_organisation_inspection (organisation_id=? AND inspection_id=?)" in s
               for s in steps), steps


@pytest.mark.parametrize("scope", ["agency", "enterprise", "terminal"])
def test_a_filing_s_inspections_are_found_from_the_filing(sqlite_engine, scope):
    for statement in (repository._list_prepared(scope, True, False).statement,
                      repository._list_statement(scope, True, False)):
        steps = plan(sqlite_engine, statement)
        # the filing's inspections are listed (a short list), then each found by its id and checked
        assert any("inspections USING INDEX sqlite_autoindex_inspections_1 (id=?)" in s for s in steps), steps
        assert any("ix_declarations_filing_id (filing_id=?)" in s for s in steps), steps
        assert not any("ix_inspections_port" in s or "(organisation_id=?)" in s for s in steps), steps


def test_a_port_s_open_tasks_skip_its_completed_ones(sqlite_engine):
    steps = plan(sqlite_engine, terminal._TASKS[True].statement)
    assert any("ix_relocation_tasks_port_status (port=? AND status=?)" in s for s in steps), steps


def test_a_port_s_terminals_are_found_without_reading_every_organisation(sqlite_engine):
    for null_port in (True, False):
        steps = plan(sqlite_engine, recipients._TERMINALS[null_port].statement)
        assert not reads_in_full(steps), steps
        assert any("ix_organisations_kind_port" in s for s in steps), steps


def test_appointments_past_their_grace_are_found_without_reading_every_inspection(sqlite_engine):
    steps = plan(sqlite_engine, attendance.PAST_GRACE.params(cutoff=datetime.now(UTC)))
    assert steps == ["SEARCH inspections USING INDEX ix_inspections_status_appointment (status=? AND appointment_at<?)"]


def test_an_office_s_inspections_page_reads_each_part_through_its_own_index(sqlite_engine):
    office = Actor(Organisation(id=uuid.uuid4(), kind="customs", code="0916", name="Dalian"), None, "officer")
    steps = plan(sqlite_engine, office_inspections(office, datetime.now(UTC)))
    assert steps[0] == "MULTI-INDEX OR", steps
    assert not reads_in_full([s for s in steps if "LIST SUBQUERY" not in s]), steps
    for index in ("ix_inspections_status_appointment (status=?)", "ix_inspections_completed_at (completed_at>?)",
                  "ix_inspection_participants_organisation_inspection (organisation_id=?)"):
        assert any(index in s for s in steps), (index, steps)
