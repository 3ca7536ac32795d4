"""Inspection decisions and their matching (对碰) into joint and single inspections.

The rules live in the pure :mod:`onewindow.inspections.matching` engine; this
module loads its inputs, locks the containers concerned (so two agencies
deciding at the same moment are matched once, by whichever commits second),
and persists what it plans: inspections, their relocation tasks, events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import bindparam, literal_column, select
from sqlalchemy.orm.attributes import set_committed_value

from onewindow.context import Context
from onewindow.errors import Conflict, Text, ValidationFailed, field_error, pydantic_details, text_errors
from onewindow.events.service import record_event
from onewindow.filings import repository as filings_repository
from onewindow.filings.service import STATUS_NAMES
from onewindow import rows
from onewindow.inspections import matching, recipients
from onewindow.inspections.stored import read
from onewindow.rows import columns, objects
from onewindow.sql import Prepared, PreparedIn, for_change, locks_are_waited_for
from onewindow.inspections.visits import (
    Cover, coverage, declaration_numbers, filing_place, left_with, open_visit, open_visits,
)
from onewindow.models import (
    STARTED_INSPECTION, ContainerVisit, Declaration, DeclarationContainer, DeclarationStatus, DecisionStatus, Filing,
    Inspection, InspectionContainer, InspectionDecision, InspectionDeclaration, InspectionParticipant, InspectionStatus,
    RelocationTask,
)
from onewindow.parties.permissions import Permission

INSPECTION_STATUS_NAMES = {"awaiting_relocation": Text("awaiting_relocation"), "ready": Text("ready"),
                           "scheduled": Text("scheduled"), "in_progress": Text("in_progress"),
                           "completed": Text("completed")}
"""An inspection's statuses as messages name them (the English is the status itself)."""


def inspection_status_name(status: str) -> Text | str:
    return INSPECTION_STATUS_NAMES.get(status, status)

DECIDABLE = frozenset({DeclarationStatus.accepted.value})

_NUMBERS = bindparam("numbers", expanding=True)
_DECIDED = Prepared(select(InspectionDecision.id)
                    .where(InspectionDecision.declaration_id == bindparam("declaration_id")).limit(1))
_PENDING = PreparedIn(
    select(*columns(InspectionDecision), *columns(Declaration), Filing.port)
    .join(Declaration, Declaration.id == InspectionDecision.declaration_id)
    .join(Filing, Filing.id == Declaration.filing_id)
    .where(InspectionDecision.declaration_id.in_(select(DeclarationContainer.declaration_id)
                                                 .where(DeclarationContainer.number.in_(_NUMBERS))),
           # ``|| ''``: SQLite's planner, without statistics, would otherwise start from the status index and
           # read every open decision of the database; from the containers it reads only theirs
           InspectionDecision.status.concat(literal_column("''")) == DecisionStatus.pending.value),
    "numbers")
"""Open decisions on declarations covering one of ``numbers``: the decision's columns, the declaration's, the
port of its filing; one row per decision."""
_INSPECTED = PreparedIn(select(InspectionContainer.number, Inspection.status, Inspection.matched_at, Inspection.id)
                        .join(Inspection, Inspection.id == InspectionContainer.inspection_id)
                        .where(InspectionContainer.number.in_(_NUMBERS)), "numbers")
_STARTED = frozenset(s.value for s in STARTED_INSPECTION)
_RELEASED = DeclarationStatus.released.value
_JOINABLE = (InspectionStatus.awaiting_relocation.value, InspectionStatus.ready.value, InspectionStatus.scheduled.value)
_UNSTARTED = (for_change(select(Inspection).where(Inspection.id.in_(bindparam("ids", expanding=True)),
                                                  Inspection.status.in_(_JOINABLE))
                         .order_by(Inspection.matched_at, Inspection.id))
              .execution_options(populate_existing=True))
"""These inspections, locked, if they have still not started: the status is read again under the lock."""


DECISION_REASON_MOST = 1000
"""The longest reason of a decision to inspect, in characters (the decision's reason column holds as many)."""


class DecisionRequest(BaseModel):
    """``{"inspect": true, "containers": [...], "kind": ..., "reason": ...}`` or ``{"inspect": false}``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    inspect: bool
    containers: list[str] = Field(default_factory=list, max_length=500)
    kind: str | None = None
    reason: str | None = Field(default=None, max_length=DECISION_REASON_MOST)


def _check_decision(declaration: Declaration, body: Any) -> DecisionRequest:
    """The decision, or 422 naming each bad field (types, containers not covered, kind, a reason holding a NUL
    character)."""
    try:
        request = DecisionRequest.model_validate(body)
    except PydanticValidationError as exc:
        raise ValidationFailed(pydantic_details(exc.errors(include_url=False))) from None
    if not request.inspect:
        return request
    covered = set(declaration_numbers(declaration))
    errors = [field_error(["containers", i], Text("{number} is not a container of this declaration", number=n))
              for i, n in enumerate(request.containers) if n not in covered]
    errors += text_errors(["reason"], request.reason, DECISION_REASON_MOST)
    if not request.containers:
        errors.append(field_error(["containers"], Text("name at least one container to inspect")))
    if request.kind not in matching.KINDS:
        errors.append(field_error(["kind"], Text("must be one of {kinds}", kinds=", ".join(sorted(matching.KINDS)))))
    if errors:
        raise ValidationFailed(errors)
    return request


def decide(ctx: Context, declaration_id: str, body: dict[str, Any]) -> InspectionDecision:
    """Record the declaration's agency's decision, then match what it completes.

    409 unless the declaration is accepted and not yet decided, or when a
    container to inspect has left the port since the consignment was filed
    (or the consignment has left in it, though it has come back since);
    422 names a container the declaration does not cover or a missing kind.
    """
    actor = ctx.as_actor()
    declaration = filings_repository.get_declaration(ctx, declaration_id, for_update=True)
    actor.require(Permission.inspection_decide)
    if declaration.organisation_id != actor.org_id:
        raise Conflict(Text("only the office the declaration is routed to may decide"), code="not_routed_here")
    if declaration.status not in DECIDABLE:
        raise Conflict(Text("the declaration is {status}; decisions are made on accepted ones",
                            status=STATUS_NAMES.get(declaration.status, declaration.status)),
                       code="not_accepted")
    if read(ctx.session, _DECIDED, {"declaration_id": declaration.id}):
        raise Conflict(Text("this declaration already has a decision"), code="already_decided")
    request = _check_decision(declaration, body)
    inspect = request.inspect
    containers, kind = (sorted(set(request.containers)), request.kind) if inspect else ([], None)
    numbers = declaration_numbers(declaration)
    visits = open_visits(ctx, numbers, filing=lambda: filing_place(ctx, declaration), also=match_reach(ctx, numbers))
    if away := _at_another_port(ctx, [n for n in containers if n not in visits], declaration):
        raise Conflict(Text("{containers}: at another port, not yet arrived at the consignment's; it can be "
                            "inspected once it has", containers=", ".join(away)), code="at_another_port")
    if gone := sorted({n for n in containers if n not in visits}.union(
            left_with(ctx, declaration.filing_id, containers))):
        raise Conflict(Text("{containers}: left the port after the consignment was filed; it cannot be inspected "
                            "there", containers=", ".join(gone)), code="gated_out")
    (decision,) = rows.new_rows(ctx.session, InspectionDecision, dict(
        id=uuid.uuid4(), declaration_id=declaration.id, agency=declaration.agency, organisation_id=actor.org_id,
        inspect=inspect, containers=containers, kind=kind, reason=(request.reason or None) if inspect else None,
        status=DecisionStatus.pending.value, decided_at=ctx.now(), matched_at=None))
    rows.place(ctx.session, decision)
    record_event(ctx, "inspection.decided", subject_type="declaration", subject_id=declaration.id,
                 filing_id=declaration.filing_id, recipients=[actor.org_id],
                 data={"declaration_id": str(declaration.id), "agency": declaration.agency, "inspect": inspect,
                       "containers": containers, "kind": kind},
                 confidential={"reason": decision.reason})
    match_containers(ctx, numbers, locked=visits)
    return decision


def _at_another_port(ctx: Context, numbers: list[str], declaration: Declaration) -> list[str]:
    """Of ``numbers`` (containers without a visit of the declaration's filing), those in a stay at another port
    than the filing's (not yet left it)."""
    if not numbers:
        return []
    port = filing_place(ctx, declaration).port
    return [n for n in numbers if (visit := open_visit(ctx, n, lock=False)) is not None
            and visit.port not in (None, port)]


def _pending_group(ctx: Context, numbers: Iterable[str]) -> tuple[list[InspectionDecision], dict, dict]:
    """The open decisions connected to ``numbers`` through shared containers, with their declarations
    (by decision id) and the ports of their filings (by declaration id)."""
    frontier, seen, decisions, ports = set(numbers), set(), {}, {}
    width = len(columns(InspectionDecision))
    while frontier - seen:
        batch = frontier - seen
        seen |= batch
        found = read(ctx.session, _PENDING, {"numbers": sorted(batch)})
        # as the ORM's query with populate_existing: what the session holds is refreshed to the rows as stored
        for decision, declaration, (*_, port) in zip(
                objects(ctx.session, InspectionDecision, [row[:width] for row in found], refresh=True),
                objects(ctx.session, Declaration, [row[width:-1] for row in found], refresh=True), found,
                strict=True):
            covered = set(declaration_numbers(declaration))
            if covered & batch and decision.id not in decisions:
                decisions[decision.id] = (decision, declaration)
                ports[declaration.id] = port
                frontier |= covered
    return [d for d, _ in decisions.values()], {d.id: decl for d, decl in decisions.values()}, ports


def match_reach(ctx: Context, numbers: Iterable[str]) -> set[str]:
    """Where locks may be waited for (PostgreSQL), the containers a match from ``numbers`` will lock beside
    them, as committed now (read without a lock): the others of the open decisions connected to them.
    Locked with ``numbers`` by one statement, in number order, they are not taken one group after another,
    in the order the decisions are found, which two requests can do in opposite orders and wait for each
    other's. The match reads the group again once it holds the locks (:func:`_locked_group`), and locks
    what it has grown to meanwhile. Nothing on SQLite (one writer at a time)."""
    if not locks_are_waited_for(ctx.session):
        return set()
    numbers = set(numbers)
    declarations = _pending_group(ctx, numbers)[1]
    return {n for declaration in declarations.values() for n in declaration_numbers(declaration)} - numbers


def _locked_group(ctx: Context, numbers: Iterable[str], locked: dict | None = None):
    """The open decisions connected to ``numbers``, read again after locking every container they touch.

    Two transactions matching the same containers (two agencies deciding at
    once, two schedulers) queue on the locks; the second then sees what the
    first committed and never matches a decision twice. ``locked``: visits
    this transaction has already locked. A container with no open visit (it
    has left the port) has nothing to lock and is left out of the visits
    answered; the decisions covering it are still found, so one whose
    containers have all left is matched (it waits for nobody).
    """
    locked, gone = dict(locked or {}), set()
    wanted = set(numbers)
    while True:
        if missing := wanted - set(locked) - gone:
            locked.update(found := open_visits(ctx, missing, also=match_reach(ctx, missing) if not locked else ()))
            gone |= missing - set(found)
        decisions, declarations, ports = _pending_group(ctx, set(locked) | gone)
        touched = {n for decl in declarations.values() for n in declaration_numbers(decl)}
        if touched <= set(locked) | gone:
            return decisions, declarations, ports, {n: locked[n] for n in touched if n in locked}
        wanted = touched


def match_containers(ctx: Context, numbers: Iterable[str], *, locked: dict | None = None) -> list[Inspection]:
    """Match the open decisions touching ``numbers`` (and what they connect to); persist the plan.

    ``locked``: the visits of ``numbers`` already locked by this transaction (number → visit).
    With ``joint_inspection`` off (serial mode) each decision to inspect gets its own single inspection at
    once, and no decision joins another's inspection: the old way, one opening per agency.
    """
    decisions, declarations, ports, visits = _locked_group(ctx, numbers, locked)
    if not decisions:
        return []
    all_numbers = set(visits)
    covering = coverage(ctx, all_numbers)
    away = {port: _away(visits, port) for port in set(ports.values())}
    started, unstarted = _inspected(ctx, visits)
    result = matching.match(
        [_engine_decision(d, declarations[d.id], away[ports[declarations[d.id].id]]) for d in decisions],
        {n: frozenset(_key(a, d) for a, ds in by_agency.items() for d in ds) for n, by_agency in covering.items()},
        now=ctx.now(), window=timedelta(seconds=ctx.settings.match_window_seconds),
        started=started, settled=_settled(covering), joint=ctx.settings.joint_inspection)
    by_declaration = {str(declarations[d.id].id): d for d in decisions}
    created = [inspection for planned in _merged(result.inspections)
               for inspection in _persist(ctx, planned, by_declaration, declarations, ports, unstarted)]
    matched = [by_declaration[i] for i in result.matched]
    rows.update(ctx.session, [d for d in matched if d.inspect], status=DecisionStatus.matched.value,
                matched_at=ctx.now())
    rows.update(ctx.session, [d for d in matched if not d.inspect], status=DecisionStatus.cleared.value,
                matched_at=ctx.now())
    return created


def _key(agency: str, declaration: Declaration | Cover) -> str:
    """The engine waits for each covering declaration, not just each agency: one agency with two
    declarations covering a container has decided only when both have."""
    return f"{agency}|{declaration.id}"


def _agency(key: str) -> str:
    return key.split("|", 1)[0]


def _away(visits: dict[str, ContainerVisit], port: str | None) -> frozenset[str]:
    """Of the group's containers, those in a stay at another port than ``port`` (a filing's)."""
    return frozenset(n for n, visit in visits.items() if visit.port not in (None, port))


def _engine_decision(d: InspectionDecision, declaration: Declaration, away: frozenset[str] = frozenset()
                     ) -> matching.Decision:
    """The decision as the engine takes it: the containers its declaration covers, but those at another port
    than its filing's (``away``: their stay there is another port's, the declaration covers the next)."""
    return matching.Decision(agency=_key(d.agency, declaration), declaration_id=str(declaration.id),
                             containers=frozenset(declaration_numbers(declaration)) - away, decided_at=d.decided_at,
                             inspect=frozenset(d.containers), kind=d.kind, reason=d.reason)


def _inspected(ctx: Context, visits) -> tuple[frozenset[str], dict[str, list[uuid.UUID]]]:
    """(containers whose inspection during their current visit is in progress or done, container → its
    inspections during the current visit not yet started) — one query."""
    started, unstarted = set(), {}
    if not visits:  # every container of the group has left the port
        return frozenset(), {}
    for number, status, matched_at, inspection_id in read(ctx.session, _INSPECTED, {"numbers": list(visits)}):
        if matched_at < visits[number].created_at:
            continue  # an earlier visit's
        if status in _STARTED:
            started.add(number)
        elif status in _JOINABLE:
            unstarted.setdefault(number, []).append(inspection_id)
    return frozenset(started), unstarted


def _settled(covering: dict[str, dict[str, list[Cover]]]) -> dict[str, set[str]]:
    """Container → covering declarations (engine keys) decided earlier, or released without a decision."""
    return {n: {_key(agency, d) for agency, ds in by_agency.items() for d in ds
                if d.decided or d.status == _RELEASED}
            for n, by_agency in covering.items()}


def _merged(planned: tuple[matching.PlannedInspection, ...]) -> list[matching.PlannedInspection]:
    """One inspection per set of agencies within a consignment.

    The engine waits per covering declaration, so two declarations of one
    agency on a container appear to it as two parties; inspections it plans
    for the same agencies (as agencies) that serve a common declaration, or
    are linked through others that do, are one opening of the containers,
    and are merged here.
    """
    groups: list[list[matching.PlannedInspection]] = []
    for p in planned:
        agencies = {_agency(k) for k in p.agencies}
        linked = [i for i, group in enumerate(groups)
                  if not p.late and not group[0].late and agencies == {_agency(k) for k in group[0].agencies}
                  and any(set(p.decisions) & set(g.decisions) for g in group)]
        if not linked:
            groups.append([p])
            continue
        # p may link groups that share no declaration with each other: they are one opening too, whatever
        # order the containers' numbers put them in
        groups[linked[0]] = [g for i in linked for g in groups[i]] + [p]
        for i in reversed(linked[1:]):
            del groups[i]
    return [g[0] if len(g) == 1 else _combine(g) for g in groups]


def _combine(group: list[matching.PlannedInspection]) -> matching.PlannedInspection:
    def union(attr: str) -> dict[str, tuple[str, ...]]:
        out: dict[str, set[str]] = {}
        for p in group:
            for k, values in getattr(p, attr).items():
                out.setdefault(k, set()).update(values)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    return matching.PlannedInspection(
        containers=tuple(sorted({c for p in group for c in p.containers})),
        agencies=tuple(sorted({a for p in group for a in p.agencies})), joint=any(p.joint for p in group),
        kinds=union("kinds"), reasons=union("reasons"),
        decisions=tuple(sorted({d for p in group for d in p.decisions})), late=False)


def _persist(ctx: Context, planned: matching.PlannedInspection, by_declaration: dict[str, InspectionDecision],
             declarations: dict, ports: dict, unstarted: dict[str, list[uuid.UUID]]) -> list[Inspection]:
    """Write a planned inspection; the inspections it touches, each once.

    Its containers that an inspection not yet started already holds (``unstarted``: container → such
    inspections, from :func:`_inspected`) join that inspection instead, so each is still moved, booked and
    opened once (一次开箱); a new inspection holds the others, if any. Not for a late inspection (its
    containers' inspection has started) nor in serial mode (no container is opened together). Each
    inspection joined or written serves the declarations whose decisions want its containers, with their
    agencies' kinds and reasons.
    """
    members = [by_declaration[i] for i in planned.decisions]
    touched, rest = [], list(planned.containers)
    held = {i for n in rest for i in unstarted.get(n, ())}
    if held and not planned.late and ctx.settings.joint_inspection:
        for inspection in ctx.session.scalars(_UNSTARTED, {"ids": sorted(held)}):
            if share := set(inspection.container_numbers) & set(rest):
                joining = _wanting(members, share)
                _join(ctx, inspection, [declarations[d.id] for d in joining], _participants(joining))
                rest = [n for n in rest if n not in share]
                touched.append(inspection)
    if rest:
        wanting = _wanting(members, rest)
        served = [declarations[d.id] for d in wanting]
        inspection = _write_inspection(
            ctx, port=ports[served[0].id], late=planned.late, containers=rest,
            declaration_ids=[d.id for d in served], participants=_participants(wanting))
        inspection_event(ctx, inspection, "inspection.matched")
        touched.append(inspection)
    _mark_inspecting(ctx, [declarations[d.id] for d in members])
    return touched


def _wanting(decisions: list[InspectionDecision], containers: Iterable[str]) -> list[InspectionDecision]:
    """The ``decisions`` that ask to inspect one of ``containers``: those an inspection of them serves (a
    plan merged across two consignments' declarations, part of it joining an inspection not started, serves
    with each part only the declarations wanting its containers)."""
    wanted = set(containers)
    return [d for d in decisions if wanted & set(d.containers)]


def _participants(decisions: list[InspectionDecision]) -> list[tuple]:
    """(agency, office, kinds, reasons) of each agency of ``decisions``, by agency: the kinds and the reasons of
    its decisions among them."""
    parts: dict[str, tuple] = {}
    for d in decisions:
        _, kinds, reasons = parts.setdefault(d.agency, (d.organisation_id, set(), set()))
        kinds.add(d.kind)
        if d.reason is not None:
            reasons.add(d.reason)
    return [(agency, office, sorted(kinds), sorted(reasons)) for agency, (office, kinds, reasons) in
            sorted(parts.items())]


def _join(ctx: Context, inspection: Inspection, declarations: list[Declaration], participants: list[tuple]) -> None:
    """The decisions of ``declarations`` join ``inspection`` (not started): their declarations are served by it,
    each agency (agency, office, kinds, reasons) takes part in it, an agency already taking part with the
    kinds and reasons of both; ``inspection.joined`` (``joining``: those agencies) tells its parties, the new
    ones included."""
    existing = {d.declaration_id for d in inspection.declarations}
    inspection.declarations.extend(InspectionDeclaration(declaration_id=d.id) for d in declarations
                                   if d.id not in existing)
    taking_part = {p.agency: p for p in inspection.participants}
    for agency, office, kinds, reasons in participants:
        if (p := taking_part.get(agency)) is None:
            inspection.participants.append(InspectionParticipant(
                agency=agency, organisation_id=office, kinds=kinds, reasons=reasons, absent=False))
        else:
            p.kinds, p.reasons = sorted({*p.kinds, *kinds}), sorted({*p.reasons, *reasons})
    inspection.participants.sort(key=lambda p: p.agency)  # in the order the collection loads (by agency)
    inspection.joint = len(inspection.participants) > 1
    ctx.session.flush()
    inspection_event(ctx, inspection, "inspection.joined", joining=[a for a, *_ in participants])


def _write_inspection(ctx: Context, *, port: str | None, late: bool, containers: Iterable[str],
                      declaration_ids: Iterable[uuid.UUID], participants: Iterable[tuple]) -> Inspection:
    """A new inspection awaiting relocation, its containers, declarations, participants (agency, office,
    kinds, reasons) and its relocation task, written with plain inserts.

    The inspection and its parts are returned as stored rows outside the session (detached, as after the
    end of a session): nothing in the transaction changes them through the session, and a later query of
    the inspection loads it anew. Leaving them out spares the session's cascade over every part. The task
    is only written (nothing here reads it).
    """
    now, inspection_id = ctx.now(), uuid.uuid4()
    participants = list(participants)
    (inspection,) = rows.new_rows(ctx.session, Inspection, dict(
        id=inspection_id, port=port, status=InspectionStatus.awaiting_relocation.value, late=late, matched_at=now,
        joint=len(participants) > 1))
    session = ctx.session
    parts = {
        "containers": rows.new_rows(session, InspectionContainer,
                                    *(dict(inspection_id=inspection_id, number=n) for n in containers)),
        "declarations": rows.new_rows(session, InspectionDeclaration,
                                      *(dict(inspection_id=inspection_id, declaration_id=i)
                                        for i in dict.fromkeys(declaration_ids))),
        "participants": rows.new_rows(session, InspectionParticipant, *(
            dict(inspection_id=inspection_id, agency=a, organisation_id=office, kinds=kinds, reasons=reasons,
                 absent=False) for a, office, kinds, reasons in participants))}
    rows.insert(ctx.session, RelocationTask, [dict(id=uuid.uuid4(), inspection_id=inspection_id, port=port,
                                                   status="open", created_at=now)])
    for key, group in parts.items():
        set_committed_value(inspection, key, group)
    for obj in (inspection, *(part for group in parts.values() for part in group)):
        rows.detached(obj)
    return inspection


def _mark_inspecting(ctx: Context, declarations: list[Declaration]) -> None:
    rows.update(ctx.session, [d for d in declarations if d.status == DeclarationStatus.accepted.value],
                status=DeclarationStatus.inspecting.value)


def inspection_data(inspection: Inspection) -> dict[str, Any]:
    return {"inspection_id": str(inspection.id), "containers": inspection.container_numbers,
            "agencies": inspection.agencies, "joint": inspection.joint, "late": inspection.late,
            "status": inspection.status, "port": inspection.port}


def inspection_parties(ctx: Context, inspection: Inspection) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(agencies taking part, everyone else who may see it: enterprises of its filings, the port's terminals)."""
    return [p.organisation_id for p in inspection.participants], \
        recipients.inspection_onlookers(ctx, inspection.id, inspection.port).organisations


def inspection_event(ctx: Context, inspection: Inspection, type_: str, **extra: Any) -> None:
    """An event about an inspection to its agencies, enterprises and terminals (reasons for agencies only).

    The inspection's declarations are read as stored; who follows it is read once per transaction.
    """
    onlookers = recipients.inspection_onlookers(ctx, inspection.id, inspection.port)
    record_event(ctx, type_, subject_type="inspection", subject_id=inspection.id, filing_id=onlookers.filing_id,
                 recipients=[*(p.organisation_id for p in inspection.participants), *onlookers.organisations],
                 data={**inspection_data(inspection), **extra},
                 confidential={"reasons": {p.agency: p.reasons for p in inspection.participants}})


def run_due(ctx: Context) -> int:
    """Match every open decision whose window has passed; returns how many groups were tried.

    The containers of them all, and those their matches will reach, are locked first, at once, in number
    order (:func:`match_reach`), not group after group: a round holding one group's containers while it waits for
    the next group's would wait for a request holding those and waiting for the first's."""
    cutoff = ctx.now() - timedelta(seconds=ctx.settings.match_window_seconds)
    due = [declaration_numbers(declaration) for _decision_id, declaration in ctx.session.execute(
        select(InspectionDecision.id, Declaration)
        .join(Declaration, Declaration.id == InspectionDecision.declaration_id)
        .where(InspectionDecision.status == DecisionStatus.pending.value, InspectionDecision.decided_at <= cutoff))]
    everything = {n for numbers in due for n in numbers}
    locked = open_visits(ctx, everything, also=match_reach(ctx, everything))
    tried, done = 0, set()
    for numbers in due:
        if set(numbers) <= done:
            continue
        match_containers(ctx, numbers, locked={n: locked[n] for n in numbers if n in locked})
        done |= set(numbers)
        tried += 1
    return tried
