"""Worked examples of the matching rules (对碰): joint, single, split, waiting, window, late."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from onewindow.inspections.matching import Decision, MatchResult, PlannedInspection, match

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
WINDOW = timedelta(hours=2)
A, B, C, D = "CSQU3054383", "MSKU9070323", "TGHU1234560", "OOLU4871215"


def dec(agency: str, declaration_id: str, covers, inspect=(), *, kind: str | None = None,
        reason: str | None = None, at: timedelta = timedelta(0)) -> Decision:
    """A decision; inspecting without an explicit kind means a physical inspection."""
    return Decision(agency=agency, declaration_id=declaration_id, containers=frozenset(covers),
                    inspect=frozenset(inspect), kind=kind or ("physical" if inspect else None),
                    reason=reason if reason is not None else (f"rule of {agency}" if inspect else None),
                    decided_at=T0 + at)


def run(decisions, coverage, *, now: timedelta = timedelta(minutes=5), **kwargs) -> MatchResult:
    return match(decisions, {c: frozenset(a) for c, a in coverage.items()}, now=T0 + now, window=WINDOW, **kwargs)


def shape(result: MatchResult) -> list[tuple[tuple[str, ...], tuple[str, ...], bool]]:
    return [(p.containers, p.agencies, p.joint) for p in result.inspections]


def test_full_overlap_is_one_joint_inspection():
    result = run([dec("customs", "d1", [A, B], [A, B]),
                  dec("ciq", "d2", [A, B], [A, B], kind="quarantine_treatment")],
                 {A: {"customs", "ciq"}, B: {"customs", "ciq"}})
    assert result.inspections == (PlannedInspection(
        containers=tuple(sorted([A, B])), agencies=("ciq", "customs"), joint=True,
        kinds={"ciq": ("quarantine_treatment",), "customs": ("physical",)},
        reasons={"ciq": ("rule of ciq",), "customs": ("rule of customs",)},
        decisions=("d1", "d2"), late=False),)
    assert result.matched == {"d1", "d2"}
    assert result.waiting == frozenset() and result.cleared == frozenset() and result.next_deadline is None


def test_partial_overlap_splits_by_set_of_agencies():
    cover = {A: {"customs"}, B: {"customs", "ciq"}, C: {"customs", "ciq"}, D: {"ciq"}}
    result = run([dec("customs", "d1", [A, B, C], [A, B, C]), dec("ciq", "d2", [B, C, D], [B, C, D])], cover)
    assert shape(result) == [((A,), ("customs",), False), ((B, C), ("ciq", "customs"), True), ((D,), ("ciq",), False)]
    by_containers = {p.containers: p for p in result.inspections}
    assert set(by_containers) == {(A,), tuple(sorted([B, C])), (D,)}
    joint = by_containers[tuple(sorted([B, C]))]
    assert joint.joint and joint.agencies == ("ciq", "customs") and joint.decisions == ("d1", "d2")
    assert by_containers[(A,)].agencies == ("customs",) and by_containers[(A,)].decisions == ("d1",)
    assert by_containers[(D,)].agencies == ("ciq",) and by_containers[(D,)].decisions == ("d2",)
    assert not by_containers[(A,)].joint and not by_containers[(D,)].joint


def test_disjoint_wishes_on_one_consignment_are_two_single_inspections():
    cover = {A: {"customs", "ciq"}, B: {"customs", "ciq"}}
    result = run([dec("customs", "d1", [A, B], [A]), dec("ciq", "d2", [A, B], [B])], cover)
    assert sorted(shape(result)) == sorted([((A,), ("customs",), False), ((B,), ("ciq",), False)])


def test_no_inspection_agency_takes_no_part():
    cover = {A: {"customs", "ciq"}, B: {"customs", "ciq"}}
    result = run([dec("customs", "d1", [A, B], [A, B]), dec("ciq", "d2", [A, B])], cover)
    assert shape(result) == [(tuple(sorted([A, B])), ("customs",), False)]
    assert result.inspections[0].decisions == ("d1",)
    assert result.matched == {"d1", "d2"} and result.cleared == frozenset()


def test_container_nobody_wants_gets_no_inspection():
    cover = {A: {"customs", "ciq"}, B: {"customs", "ciq"}}
    result = run([dec("customs", "d1", [A, B], [A]), dec("ciq", "d2", [A, B])], cover)
    assert shape(result) == [((A,), ("customs",), False)]
    assert result.cleared == {B}

    nobody = run([dec("customs", "d1", [A, B]), dec("ciq", "d2", [A, B])], cover)
    assert nobody.inspections == () and nobody.cleared == {A, B} and nobody.matched == {"d1", "d2"}


def test_waits_until_every_covering_agency_has_decided():
    cover = {A: {"customs", "ciq"}}
    first = dec("customs", "d1", [A], [A])
    pending = run([first], cover, now=timedelta(minutes=30))
    assert pending.inspections == () and pending.matched == frozenset()
    assert pending.waiting == {"d1"} and pending.cleared == frozenset()
    assert pending.next_deadline == T0 + WINDOW

    done = run([first, dec("ciq", "d2", [A], [A], at=timedelta(minutes=40))], cover, now=timedelta(minutes=40))
    assert shape(done) == [((A,), ("ciq", "customs"), True)]
    assert done.waiting == frozenset() and done.next_deadline is None


def test_window_expiry_makes_a_lone_decision_a_single_inspection():
    cover = {A: {"customs", "ciq"}}
    lone = [dec("customs", "d1", [A], [A])]
    assert run(lone, cover, now=WINDOW - timedelta(seconds=1)).waiting == {"d1"}
    at_deadline = run(lone, cover, now=WINDOW)
    assert shape(at_deadline) == [((A,), ("customs",), False)]
    assert at_deadline.matched == {"d1"} and at_deadline.next_deadline is None


def test_window_counts_from_the_earliest_decision_on_the_container():
    cover = {A: {"customs", "ciq", "border"}}
    decisions = [dec("customs", "d1", [A], [A]), dec("ciq", "d2", [A], [A], at=timedelta(minutes=100))]
    assert run(decisions, cover, now=timedelta(minutes=110)).waiting == {"d1", "d2"}
    expired = run(decisions, cover, now=WINDOW)
    assert shape(expired) == [((A,), ("ciq", "customs"), True)]


def test_a_group_is_matched_as_a_whole():
    # Customs' declaration covers A and B; CIQ's covers B only and CIQ has not decided:
    # A waits with B, so customs' two containers end in one inspection.
    cover = {A: {"customs"}, B: {"customs", "ciq"}}
    customs = dec("customs", "d1", [A, B], [A, B])
    assert run([customs], cover).waiting == {"d1"}
    result = run([customs, dec("ciq", "d2", [B])], cover)
    assert shape(result) == [(tuple(sorted([A, B])), ("customs",), False)]


def test_containers_match_by_number_across_filings():
    # Two declarations that did not come through one entry cover the same container.
    cover = {A: {"customs", "ciq"}, B: {"customs"}, C: {"ciq"}}
    result = run([dec("customs", "0916202610000000017", [A, B], [A, B]),
                  dec("ciq", "121060026000042", [A, C], [A])], cover)
    assert sorted(shape(result)) == sorted([((A,), ("ciq", "customs"), True), ((B,), ("customs",), False)])
    assert result.cleared == {C}


def test_a_shared_container_joins_consignments_of_one_agency():
    # Two customs declarations (two consignees' goods in one container) and CIQ on one of them.
    cover = {A: {"customs", "ciq"}, B: {"customs"}}
    result = run([dec("customs", "d1", [A], [A]), dec("customs", "d2", [A, B], [A, B], kind="machine_scan"),
                  dec("ciq", "d3", [A], [A])], cover)
    joint = next(p for p in result.inspections if p.containers == (A,))
    assert joint.agencies == ("ciq", "customs") and joint.decisions == ("d1", "d2", "d3")
    assert joint.kinds["customs"] == ("machine_scan", "physical")
    assert shape(result) == sorted(shape(result), key=lambda s: s[0])
    assert ((B,), ("customs",), False) in shape(result)


def test_unrelated_consignments_with_the_same_agencies_do_not_share_an_inspection():
    cover = {A: {"customs", "ciq"}, B: {"customs", "ciq"}}
    result = run([dec("customs", "d1", [A], [A]), dec("ciq", "d2", [A], [A]),
                  dec("customs", "d3", [B], [B]), dec("ciq", "d4", [B], [B])], cover)
    assert sorted(shape(result)) == sorted([((A,), ("ciq", "customs"), True), ((B,), ("ciq", "customs"), True)])
    assert {p.decisions for p in result.inspections} == {("d1", "d2"), ("d3", "d4")}


def test_decision_after_the_inspection_started_gets_its_own_late_inspection():
    # Customs' inspection of A has started; CIQ now decides to inspect A and B (B not started).
    cover = {A: {"customs", "ciq"}, B: {"ciq"}}
    result = run([dec("ciq", "d2", [A, B], [A, B], kind="sampling")], cover, started=frozenset({A}))
    assert result.inspections == (
        PlannedInspection(containers=(A,), agencies=("ciq",), joint=False, kinds={"ciq": ("sampling",)},
                          reasons={"ciq": ("rule of ciq",)}, decisions=("d2",), late=True),
        PlannedInspection(containers=(B,), agencies=("ciq",), joint=False, kinds={"ciq": ("sampling",)},
                          reasons={"ciq": ("rule of ciq",)}, decisions=("d2",), late=False),
    )
    assert result.matched == {"d2"}


def test_late_decisions_of_two_agencies_are_not_joined():
    cover = {A: {"customs", "ciq", "border"}}
    result = run([dec("ciq", "d2", [A], [A]), dec("border", "d3", [A], [A])], cover, started=[A])
    assert shape(result) == [((A,), ("border",), False), ((A,), ("ciq",), False)]
    assert all(p.late for p in result.inspections)


def test_late_no_inspection_decision_is_simply_matched():
    result = run([dec("ciq", "d2", [A])], {A: {"customs", "ciq"}}, started={A})
    assert result.inspections == () and result.matched == {"d2"} and result.cleared == frozenset()


def test_an_agency_matched_earlier_counts_as_decided():
    # Customs was matched alone after the window; CIQ decides now: no second wait.
    cover = {A: {"customs", "ciq"}}
    late_ciq = [dec("ciq", "d2", [A], [A], at=timedelta(hours=3))]
    assert run(late_ciq, cover, now=timedelta(hours=3)).waiting == {"d2"}
    result = run(late_ciq, cover, now=timedelta(hours=3), settled={A: {"customs"}})
    assert shape(result) == [((A,), ("ciq",), False)] and not result.inspections[0].late


def test_a_container_missing_from_coverage_waits_for_nobody():
    result = run([dec("maritime", "d1", [A], [A], kind="machine_scan")], {})
    assert shape(result) == [((A,), ("maritime",), False)]


def test_kinds_and_reasons_are_carried_per_agency():
    cover = {A: {"customs", "ciq"}}
    result = run([dec("customs", "d1", [A], [A], kind="machine_scan", reason="risk rule R-17"),
                  dec("ciq", "d2", [A], [A], kind="quarantine_treatment", reason="pest interception")], cover)
    (joint,) = result.inspections
    assert joint.kinds == {"customs": ("machine_scan",), "ciq": ("quarantine_treatment",)}
    assert joint.reasons == {"customs": ("risk rule R-17",), "ciq": ("pest interception",)}


def test_an_inspection_without_reason_carries_an_empty_tuple():
    decision = Decision(agency="customs", declaration_id="d1", containers=frozenset({A}), inspect=frozenset({A}),
                        kind="physical", decided_at=T0)
    (single,) = run([decision], {A: {"customs"}}).inspections
    assert single.reasons == {"customs": ()}


def test_output_is_sorted_and_independent_of_input_order():
    cover = {A: {"customs"}, B: {"customs", "ciq"}, C: {"customs", "ciq", "border"}, D: {"ciq", "border"}}
    decisions = [dec("customs", "d1", [A, B, C], [A, B, C]), dec("ciq", "d2", [B, C, D], [C, D]),
                 dec("border", "d3", [C, D], [C, D], kind="physical")]
    expected = run(decisions, cover)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = decisions[:]
        rng.shuffle(shuffled)
        assert run(iter(shuffled), cover) == expected
    keys = [p.containers for p in expected.inspections]
    assert keys == sorted(keys)
    assert all(list(p.containers) == sorted(p.containers) and list(p.agencies) == sorted(p.agencies)
               for p in expected.inspections)


def test_empty_input():
    assert run([], {}) == MatchResult(inspections=(), matched=frozenset(), waiting=frozenset(),
                                      cleared=frozenset(), next_deadline=None)


def test_next_deadline_is_the_earliest_window_end_of_the_waiting_groups():
    cover = {A: {"customs", "ciq"}, B: {"customs", "ciq"}}
    result = run([dec("customs", "d1", [A], [A], at=timedelta(minutes=10)),
                  dec("customs", "d2", [B], [B], at=timedelta(minutes=3))], cover, now=timedelta(minutes=20))
    assert result.waiting == {"d1", "d2"} and result.next_deadline == T0 + timedelta(minutes=3) + WINDOW


@pytest.mark.parametrize("kwargs, message", [
    ({"inspect": frozenset({B})}, "does not cover"),
    ({"inspect": frozenset({A}), "kind": "x-ray"}, "kind must be one of"),
    ({"inspect": frozenset({A}), "kind": None}, "kind must be one of"),
    ({"kind": "physical"}, "inspects nothing"),
])
def test_invalid_decisions_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Decision(agency="customs", declaration_id="d1", containers=frozenset({A}), decided_at=T0, **kwargs)


def test_decision_accepts_any_iterable_of_containers():
    decision = Decision(agency="customs", declaration_id="d1", containers=[A, B], inspect=(A,), kind="physical",
                        decided_at=T0)
    assert decision.containers == frozenset({A, B}) and decision.inspect == frozenset({A})
    assert hash(decision) == hash(Decision(agency="customs", declaration_id="d1", containers=frozenset({A, B}),
                                           inspect=frozenset({A}), kind="physical", decided_at=T0))


def test_duplicate_declaration_and_negative_window_are_refused():
    with pytest.raises(ValueError, match="given twice: d1"):
        run([dec("customs", "d1", [A]), dec("ciq", "d1", [A])], {})
    with pytest.raises(ValueError, match="negative"):
        match([], {}, now=T0, window=timedelta(seconds=-1))
