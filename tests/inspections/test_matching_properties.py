"""Properties of the matching on random decisions, coverage, started containers and times."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from onewindow.inspections.matching import KINDS, Decision, MatchResult, match

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
CONTAINERS = [f"C{i}" for i in range(8)]
AGENCIES = ["border", "ciq", "customs", "maritime"]


@dataclass
class Case:
    decisions: list[Decision]
    coverage: dict[str, frozenset[str]]
    started: frozenset[str]
    settled: dict[str, frozenset[str]]
    now: datetime
    window: timedelta

    def run(self, decisions=None) -> MatchResult:
        return match(self.decisions if decisions is None else decisions, self.coverage, now=self.now,
                     window=self.window, started=self.started, settled=self.settled)


# Strategies are built once: building them inside the draw dominates the run time.
AGENCY = st.sampled_from(AGENCIES)
KIND = st.sampled_from(sorted(KINDS))
REASON = st.sampled_from([None, "r1", "r2"])
COVERS = st.sets(st.sampled_from(CONTAINERS), min_size=1, max_size=4)
SOME = st.sets(st.sampled_from(CONTAINERS))
HOW_MANY = st.sampled_from(["none", "all", "some"])
MINUTES = st.integers(0, 120)
PER_CONTAINER = {n: st.fixed_dictionaries({c: st.frozensets(AGENCY, max_size=n) for c in CONTAINERS})
                 for n in (1, 2)}


@st.composite
def cases(draw) -> Case:
    decisions = []
    for n in range(draw(st.integers(0, 10))):
        covers = frozenset(draw(COVERS))
        how = draw(HOW_MANY)
        inspect = frozenset() if how == "none" else covers if how == "all" else covers & draw(SOME)
        decisions.append(Decision(
            agency=draw(AGENCY), declaration_id=f"d{n}", containers=covers, inspect=inspect,
            kind=draw(KIND) if inspect else None, reason=draw(REASON) if inspect else None,
            decided_at=T0 + timedelta(minutes=draw(MINUTES))))
    # Coverage: the deciding agencies and up to two that have not decided (yet).
    undecided = draw(PER_CONTAINER[2])
    coverage = {c: frozenset({d.agency for d in decisions if c in d.containers} | undecided[c]) for c in CONTAINERS}
    return Case(decisions=decisions, coverage=coverage, settled=draw(PER_CONTAINER[1]),
                started=frozenset(draw(st.sets(st.sampled_from(CONTAINERS), max_size=2))),
                now=T0 + timedelta(minutes=draw(st.integers(0, 240))), window=timedelta(minutes=draw(MINUTES)))


def groups(case: Case) -> dict[str, int]:
    """Declaration id → group number, computed independently: decisions sharing a container not started."""
    group = {d.declaration_id: n for n, d in enumerate(case.decisions)}
    changed = True
    while changed:
        changed = False
        for a in case.decisions:
            for b in case.decisions:
                if (a.containers & b.containers) - case.started and group[a.declaration_id] != group[b.declaration_id]:
                    low = min(group[a.declaration_id], group[b.declaration_id])
                    group[a.declaration_id] = group[b.declaration_id] = low
                    changed = True
    return group


def ready(case: Case, container: str) -> bool:
    on_it = [d for d in case.decisions if container in d.containers]
    decided = {d.agency for d in on_it} | case.settled.get(container, frozenset())
    return case.coverage[container] <= decided or min(d.decided_at for d in on_it) + case.window <= case.now


def wanting(case: Case, matched: frozenset[str], container: str) -> set[str]:
    return {d.agency for d in case.decisions if d.declaration_id in matched and container in d.inspect}


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(cases())
def test_every_wanted_ready_container_is_in_exactly_one_inspection(case):
    result = case.run()
    counts = Counter(c for p in result.inspections if not p.late for c in p.containers)
    for c in CONTAINERS:
        wanted = c not in case.started and wanting(case, result.matched, c)
        assert counts[c] == (1 if wanted else 0)


@PROPERTY
@given(cases())
def test_an_inspections_agencies_are_exactly_those_wanting_each_container(case):
    result = case.run()
    for p in result.inspections:
        if not p.late:
            for c in p.containers:
                assert set(p.agencies) == wanting(case, result.matched, c)
            taking_part = [d for d in case.decisions if d.declaration_id in p.decisions]
            assert {d.declaration_id for d in case.decisions if d.declaration_id in result.matched
                    and d.inspect & set(p.containers)} == set(p.decisions)
            for a in p.agencies:
                assert set(p.kinds[a]) == {d.kind for d in taking_part if d.agency == a}
                assert set(p.reasons[a]) == {d.reason for d in taking_part if d.agency == a} - {None}
        assert p.joint == (len(p.agencies) >= 2)
        assert list(p.containers) == sorted(p.containers) and list(p.agencies) == sorted(p.agencies)
        assert set(p.kinds) == set(p.reasons) == set(p.agencies)


@PROPERTY
@given(cases())
def test_one_inspection_per_set_of_agencies_within_a_group(case):
    result = case.run()
    group = groups(case)
    seen = set()
    for p in result.inspections:
        if not p.late:
            key = ({group[i] for i in p.decisions}, p.agencies)
            assert len(key[0]) == 1, "an inspection never mixes groups"
            key = (key[0].pop(), p.agencies)
            assert key not in seen
            seen.add(key)


@PROPERTY
@given(cases())
def test_containers_nobody_wants_are_never_inspected(case):
    result = case.run()
    inspected = {c for p in result.inspections for c in p.containers}
    for c in CONTAINERS:
        nobody = not any(c in d.inspect for d in case.decisions)
        if nobody:
            assert c not in inspected
    assert not result.cleared & inspected
    for c in result.cleared:
        assert c not in case.started and not wanting(case, result.matched, c)


@PROPERTY
@given(cases())
def test_nothing_is_matched_before_every_covering_agency_decided_unless_the_window_passed(case):
    result = case.run()
    group = groups(case)
    for d in case.decisions:
        if d.declaration_id in result.matched:
            assert all(ready(case, c) for c in d.containers - case.started)
    # And conversely a group waits only while one of its containers is not ready.
    for d in case.decisions:
        if d.declaration_id in result.waiting:
            members = [e for e in case.decisions if group[e.declaration_id] == group[d.declaration_id]]
            assert not all(ready(case, c) for e in members for c in e.containers - case.started)
    assert result.matched | result.waiting == {d.declaration_id for d in case.decisions}
    assert not result.matched & result.waiting


@PROPERTY
@given(cases())
def test_late_decisions_are_single_inspections_of_started_containers(case):
    result = case.run()
    late = [p for p in result.inspections if p.late]
    for p in late:
        assert len(p.agencies) == 1 and not p.joint and len(p.decisions) == 1
        (decision,) = [d for d in case.decisions if d.declaration_id == p.decisions[0]]
        assert decision.agency == p.agencies[0]
        assert set(p.containers) == decision.inspect & case.started
    expected = {d.declaration_id for d in case.decisions
                if d.declaration_id in result.matched and d.inspect & case.started}
    assert sorted(p.decisions[0] for p in late) == sorted(expected)
    for p in result.inspections:
        if not p.late:
            assert not set(p.containers) & case.started


@PROPERTY
@given(cases(), st.randoms(use_true_random=False))
def test_result_is_independent_of_input_order(case, rng):
    shuffled = case.decisions[:]
    rng.shuffle(shuffled)
    assert case.run(shuffled) == case.run()


@PROPERTY
@given(cases())
def test_waiting_groups_are_ready_at_the_next_deadline(case):
    result = case.run()
    if result.next_deadline is None:
        assert not result.waiting
        return
    assert result.next_deadline > case.now
    later = match(case.decisions, case.coverage, now=result.next_deadline, window=case.window,
                  started=case.started, settled=case.settled)
    assert later.waiting < result.waiting
    assert result.matched <= later.matched
