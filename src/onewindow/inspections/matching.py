"""Matching (对碰) of the agencies' inspection decisions into joint and single inspections.

A pure function of its arguments: no database, no clock, no I/O. The caller
loads the open decisions, the coverage of their containers and the containers
whose inspection has started, calls :func:`match` with ``now``, and persists
what comes back.

Terms
-----
decision
    One agency's answer on one of its accepted declarations: the containers
    the declaration covers, and the subset of them to inspect (empty: no
    inspection), with a kind and a confidential reason.
coverage
    For each container, the agencies with an accepted declaration covering it:
    the agencies whose decision the match waits for.
group
    Decisions connected through the containers they cover (two decisions
    covering one container are in one group, and so on transitively), whatever
    filing they came through: containers are matched by container number.
    A group is normally one consignment, or consignments sharing a container.
    Containers whose inspection has started do not connect decisions.

Rules
-----
1. *Ready.* A container is ready when every agency covering it has decided
   on it (an open decision here, or one matched earlier: ``settled``), or
   when the match window has passed for it: ``earliest decision on it +
   window <= now``. A group is matched, all its decisions at once, when every
   container of it is ready; until then all its decisions are ``waiting``.
   Matching whole groups keeps a decision either open or matched (never half
   of it), and keeps the containers an agency wants from one declaration
   together in one inspection.
2. *Who takes part.* An agency takes part in the inspection of a container
   when one of its decisions asks to inspect that container. An agency that
   decided "no inspection" for it does not take part; a container nobody
   wants inspected is ``cleared`` and gets no inspection.
3. *Sharing.* Within a group, the containers wanted by the same set of
   agencies share one inspection: joint when the set has two or more
   agencies, single otherwise. Partial overlaps therefore split: customs
   wants A, B, C and CIQ wants B, C, D gives {B, C} joint, {A} customs,
   {D} CIQ. Containers of different groups never share an inspection, even
   with the same set of agencies: they are different consignments, with
   different parties to book and attend them.
4. *Late.* A decision on a container whose inspection has already started
   (``started``) gets its own single inspection of those containers, marked
   ``late``, issued when its group is matched (a decision is matched whole);
   its other containers are matched by rules 1-3.

5. *Serial mode* (``joint=False``, the way before the reform, kept for
   comparisons): no decision waits for another agency and none is shared.
   Every decision is matched at once; each one asking to inspect gets its own
   single inspection of its containers, so a container two agencies want is
   opened twice.

Kinds and reasons are carried per agency, never merged across agencies: an
inspection's ``kinds[agency]`` are the kinds that agency asked for on its
containers (one, unless two of its declarations in the group asked for
different kinds), ``reasons[agency]`` likewise (confidential to agencies).

How a caller uses it
--------------------
Pass the open decisions (not yet matched), ``coverage`` for their containers,
in ``started`` the containers with an inspection in progress or done, and in
``settled`` the agencies whose decision on a container was matched by an
earlier call. Persist ``inspections``; mark the ``matched`` decisions matched;
the ``waiting`` ones stay open; call again on the next decision or at
``next_deadline``, when the window makes a waiting group ready.

The output is sorted and does not depend on the order of the input. The work
is about linear in the number of (decision, container) pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

KINDS = frozenset({"physical", "machine_scan", "sampling", "quarantine_treatment"})
"""The kinds of inspection an agency may ask for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """One agency's inspection decision on one of its declarations.

    ``containers`` are the containers the declaration covers; ``inspect`` the
    subset to inspect (empty: no inspection). ``kind`` is one of
    :data:`KINDS` when inspecting, ``None`` otherwise. ``reason`` is
    confidential; the engine only carries it. Iterables given for the two
    container fields are turned into frozensets.
    """

    agency: str
    declaration_id: str
    containers: frozenset[str]
    decided_at: datetime
    inspect: frozenset[str] = frozenset()
    kind: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if type(self.containers) is not frozenset:
            object.__setattr__(self, "containers", frozenset(self.containers))
        if type(self.inspect) is not frozenset:
            object.__setattr__(self, "inspect", frozenset(self.inspect))
        if not self.inspect <= self.containers:
            extra = ", ".join(sorted(self.inspect - self.containers))
            raise ValueError(f"decision {self.declaration_id} inspects containers it does not cover: {extra}")
        if self.inspect and self.kind not in KINDS:
            raise ValueError(f"decision {self.declaration_id}: kind must be one of {sorted(KINDS)}, not {self.kind!r}")
        if not self.inspect and self.kind is not None:
            raise ValueError(f"decision {self.declaration_id} inspects nothing but has kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class PlannedInspection:
    """One inspection the match asks for: the containers opened once, by these agencies.

    ``containers``, ``agencies`` and ``decisions`` (declaration ids of the
    decisions taking part) are sorted. ``kinds`` and ``reasons`` map each
    agency to the sorted, distinct kinds and reasons of its decisions taking
    part. ``late``: a decision's own single inspection of containers whose
    inspection had already started.
    """

    containers: tuple[str, ...]
    agencies: tuple[str, ...]
    joint: bool
    kinds: dict[str, tuple[str, ...]] = field(hash=False)
    reasons: dict[str, tuple[str, ...]] = field(hash=False)
    decisions: tuple[str, ...]
    late: bool


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What one call of :func:`match` decided.

    ``matched``: declaration ids of the decisions settled by this call (with
    or without an inspection). ``waiting``: those still waiting for another
    agency. ``cleared``: containers of matched groups that nobody wants
    inspected. ``next_deadline``: the earliest time the window makes a
    waiting group ready (``None`` when nothing waits).
    """

    inspections: tuple[PlannedInspection, ...]
    matched: frozenset[str]
    waiting: frozenset[str]
    cleared: frozenset[str]
    next_deadline: datetime | None


def match(
    decisions: Iterable[Decision],
    coverage: Mapping[str, Collection[str]],
    *,
    now: datetime,
    window: timedelta,
    started: Collection[str] = frozenset(),
    settled: Mapping[str, Collection[str]] | None = None,
    joint: bool = True,
) -> MatchResult:
    """Match the open ``decisions`` into inspections (see the module documentation for the rules).

    ``coverage``: container → agencies with an accepted declaration covering
    it (a container missing from it waits for nobody). ``started``:
    containers with an inspection in progress or done. ``settled``:
    container → agencies whose decision on it was matched by an earlier call.
    ``joint=False`` matches in serial mode (rule 5). Raises
    :class:`ValueError` on a negative window or a declaration id given twice.
    """
    if window < timedelta(0):
        raise ValueError("the match window cannot be negative")
    ds = tuple(decisions)
    by_id = {d.declaration_id: d for d in ds}
    if len(by_id) != len(ds):
        twice = sorted(i for i, n in Counter(d.declaration_id for d in ds).items() if n > 1)
        raise ValueError(f"decisions given twice: {', '.join(twice)}")
    if not joint:
        return _serial(ds)
    if not isinstance(started, (set, frozenset)):
        started = frozenset(started)
    settled = settled or {}
    cutoff = now - window

    # Decisions covering the same containers (usually the declarations of one consignment) form one
    # shape: the work below is per shape and container, not per decision and container. For each
    # shape: the agencies that decided, its earliest decision and its decisions inspecting something.
    # The few distinct sets of agencies are shared (interned): a big batch allocates less.
    shape_of: dict[frozenset[str], int] = {}
    shape_ids: list[int] = []  # the shape of each decision
    shape_agencies: list[frozenset[str]] = []
    shape_earliest: list[datetime] = []
    wanting: dict[int, list[Decision]] = {}  # shape → its decisions inspecting something
    interned: dict[frozenset[str], frozenset[str]] = {}
    for d in ds:
        s = shape_of.get(d.containers)
        if s is None:
            s = shape_of[d.containers] = len(shape_agencies)
            agencies = frozenset((d.agency,))
            shape_agencies.append(interned.setdefault(agencies, agencies))
            shape_earliest.append(d.decided_at)
        else:
            if d.agency not in shape_agencies[s]:
                agencies = shape_agencies[s] | {d.agency}
                shape_agencies[s] = interned.setdefault(agencies, agencies)
            if d.decided_at < shape_earliest[s]:
                shape_earliest[s] = d.decided_at
        if d.inspect:
            if s in wanting:
                wanting[s].append(d)
            else:
                wanting[s] = [d]
        shape_ids.append(s)

    # Index the shapes by container and join them into groups (union-find); started containers connect nothing.
    parent = list(range(len(shape_agencies)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}  # container → the first shape covering it
    more: dict[str, list[int]] = {}  # container → the other shapes covering it (containers shared across filings)
    for containers, s in shape_of.items():
        for c in containers:
            if c in started:
                continue
            first = owner.setdefault(c, s)
            if first != s:
                if c in more:
                    more[c].append(s)
                else:
                    more[c] = [s]
                a, b = find(first), find(s)
                if a != b:
                    parent[b] = a
    root = [find(s) for s in range(len(parent))]

    # A group waits while one of its containers is not ready; it becomes ready at the latest window end.
    blocked: dict[int, datetime] = {}
    for c, s in owner.items():
        needed = coverage.get(c)
        if not needed:
            continue
        others = more.get(c)
        if others is None:
            decided = shape_agencies[s]
        else:
            decided = shape_agencies[s].union(*[shape_agencies[o] for o in others])
        if c in settled:
            decided = decided.union(settled[c])
        if decided.issuperset(needed):
            continue
        earliest = shape_earliest[s] if others is None else min([shape_earliest[o] for o in (s, *others)])
        if earliest <= cutoff:
            continue
        group = root[s]
        deadline = earliest + window
        if group not in blocked or deadline > blocked[group]:
            blocked[group] = deadline

    # Ready containers: one inspection per (group, set of agencies wanting the container).
    shared: dict[tuple[int, frozenset[str]], list[str]] = {}  # → its containers
    takers_of: dict[tuple[int, frozenset[str]], set[str]] = {}  # → the declaration ids taking part
    cleared: list[str] = []
    for c, s in owner.items():
        group = root[s]
        if group in blocked:
            continue
        others = more.get(c)
        if others is None:
            takers = [d for d in wanting.get(s, ()) if c in d.inspect]
        else:
            takers = [d for o in (s, *others) for d in wanting.get(o, ()) if c in d.inspect]
        if not takers:
            cleared.append(c)
            continue
        agencies = frozenset([d.agency for d in takers])
        key = (group, interned.setdefault(agencies, agencies))
        containers = shared.get(key)
        if containers is None:
            shared[key] = [c]
            takers_of[key] = {d.declaration_id for d in takers}
        else:
            containers.append(c)
            takers_of[key].update([d.declaration_id for d in takers])

    inspections = [_planned(containers, [by_id[i] for i in takers_of[key]], late=False)
                   for key, containers in shared.items()]
    matched: list[str] = []
    waiting: list[str] = []
    for d, s in zip(ds, shape_ids, strict=True):
        if root[s] in blocked:
            waiting.append(d.declaration_id)
            continue
        matched.append(d.declaration_id)
        if started and d.inspect:
            late = d.inspect & started
            if late:
                inspections.append(_planned(late, [d], late=True))

    inspections.sort(key=lambda p: (p.containers, p.late, p.agencies, p.decisions))
    return MatchResult(
        inspections=tuple(inspections),
        matched=frozenset(matched),
        waiting=frozenset(waiting),
        cleared=frozenset(cleared),
        next_deadline=min(blocked.values()) if blocked else None,
    )


def _serial(decisions: tuple[Decision, ...]) -> MatchResult:
    """Rule 5: every decision matched now; one single inspection per decision that inspects."""
    inspections = sorted((_planned(d.inspect, [d], late=False) for d in decisions if d.inspect),
                         key=lambda p: (p.containers, p.late, p.agencies, p.decisions))
    wanted = {c for d in decisions for c in d.inspect}
    return MatchResult(inspections=tuple(inspections), matched=frozenset(d.declaration_id for d in decisions),
                       waiting=frozenset(), cleared=frozenset(c for d in decisions for c in d.containers) - wanted,
                       next_deadline=None)


def _planned(containers: Iterable[str], members: list[Decision], *, late: bool) -> PlannedInspection:
    """The inspection of ``containers`` by the agencies of ``members`` (the decisions wanting them)."""
    if len(members) == 1:  # the usual single inspection: one decision
        d = members[0]
        kind: str = d.kind  # type: ignore[assignment]  # inspecting ⇒ kind is set
        return PlannedInspection(tuple(sorted(containers)), (d.agency,), False, {d.agency: (kind,)},
                                 {d.agency: () if d.reason is None else (d.reason,)}, (d.declaration_id,), late)
    kinds: dict[str, set[str]] = {}
    reasons: dict[str, set[str]] = {}
    for d in members:
        if d.agency not in kinds:
            kinds[d.agency] = set()
            reasons[d.agency] = set()
        kinds[d.agency].add(d.kind)  # type: ignore[arg-type]  # inspecting ⇒ kind is set
        if d.reason is not None:
            reasons[d.agency].add(d.reason)
    agencies = tuple(sorted(kinds))
    return PlannedInspection(
        containers=tuple(sorted(containers)),
        agencies=agencies,
        joint=len(agencies) > 1,
        kinds={a: tuple(sorted(kinds[a])) for a in agencies},
        reasons={a: tuple(sorted(reasons[a])) for a in agencies},
        decisions=tuple(sorted([d.declaration_id for d in members])),
        late=late,
    )
