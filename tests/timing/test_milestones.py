"""The stage rules and the declaration time lines on their own (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from onewindow.timing.milestones import fold_declarations, latest_if_all, seconds, stages

T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def in_hours(found: dict) -> dict:
    return {k: None if v is None else v / 3600 for k, v in found.items()}


def test_the_stages_add_up_to_the_whole():
    found = in_hours(stages(at(0), at(2), at(7.5), at(11.5)))
    assert found == {"arrival_to_filing": 2, "filing_to_release": 5.5, "release_to_gate_out": 4,
                     "arrival_to_release": 7.5, "arrival_to_gate_out": 11.5}
    assert sum(found[s] for s in ("arrival_to_filing", "filing_to_release", "release_to_gate_out")) == 11.5


def test_pre_arrival_filing_and_release_before_arrival():
    assert in_hours(stages(at(3), at(1), at(2), at(5))) == {
        "arrival_to_filing": 0, "filing_to_release": 0, "release_to_gate_out": 2, "arrival_to_release": 0,
        "arrival_to_gate_out": 2}
    assert in_hours(stages(at(3), at(1), at(4), at(5)))["filing_to_release"] == 1  # counted from arrival


def test_without_arrival_only_the_agencies_stage_is_known():
    assert in_hours(stages(None, at(1), at(4), None)) == {
        "arrival_to_filing": None, "filing_to_release": 3, "release_to_gate_out": None, "arrival_to_release": None,
        "arrival_to_gate_out": None}


def test_a_declaration_time_line_keeps_its_first_filing_and_the_release_in_force():
    events = [("declaration.submitted", "d", at(1), {"agency": "customs", "office": "0916"}),
              ("declaration.rejected", "d", at(2), {}),
              ("declaration.submitted", "d", at(4), {}),
              ("declaration.accepted", "d", at(5), {}),
              ("declaration.released", "d", at(6), {}),
              ("declaration.release_revoked", "d", at(7), {}),
              ("declaration.released", "d", at(9), {})]
    [t] = fold_declarations(events).values()
    assert (t.agency, t.office, t.filed_at, t.submissions, t.rejections, t.accepted_at, t.released_at) == (
        "customs", "0916", at(1), 2, 1, at(5), at(9))
    assert t.active
    withdrawn = fold_declarations([("declaration.submitted", "e", at(1), {"agency": "ciq"}),
                                   ("declaration.rejected", "e", at(2), {}),
                                   ("declaration.withdrawn", "e", at(3), {})])["e"]
    assert not withdrawn.active


def test_latest_if_all():
    assert latest_if_all([at(1), at(3), at(2)]) == at(3)
    assert latest_if_all([at(1), None]) is None and latest_if_all([]) is None


@given(st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)))
def test_seconds_are_the_whole_seconds_rounded(gap):
    start = datetime(2026, 3, 2, 9, 30, 0, 500000, tzinfo=UTC)
    assert seconds(start, start + gap) == round(gap.total_seconds())
    assert seconds(None, start) is None and seconds(start, None) is None
