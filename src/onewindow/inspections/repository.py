"""Scoped queries for inspections and relocation tasks (404 for what the caller may not see).

An agency sees the inspections it takes part in; an enterprise those serving
its filings' declarations; a terminal those at its port.
"""

from __future__ import annotations

import uuid
from functools import cache

from sqlalchemy import Select, bindparam, event, false, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import aliased, joinedload, lazyload
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from onewindow.context import Actor, Context
from onewindow.errors import NotFound, parse_id
from onewindow.inspections.stored import read
from onewindow.rows import columns, detached, from_row, holds_any, loaded, objects
from onewindow.models import (
    AGENCY_KINDS, Declaration, DeclarationStatus, Filing, Inspection, InspectionContainer, InspectionDeclaration,
    InspectionParticipant,
    OrgKind, RelocationTask,
)
from onewindow.sql import Prepared, checked_after, for_change, locks_are_waited_for


def inspections_visible_to(actor: Actor) -> Select[tuple[Inspection]]:
    """The inspections ``actor`` may see, each checked by its own rows (fit to narrow a query further)."""
    return _scoped(select(Inspection), _scope(actor)).params(org=actor.org_id, port=actor.organisation.port)


WITH_PARTS = (joinedload(Inspection.containers), joinedload(Inspection.participants),
              lazyload(Inspection.declarations))
"""Loader options: an inspection with its containers and participants in the same query (its declarations
on first use; events read them with their recipients)."""


def _scope(actor: Actor) -> str:
    if actor.kind in AGENCY_KINDS:
        return "agency"
    if actor.kind is OrgKind.enterprise:
        return "enterprise"
    if actor.kind is OrgKind.terminal and actor.organisation.port:
        return "terminal"
    return "nobody"


def _scoped(query: Select[tuple[Inspection]], scope: str, *, narrowed: bool = True) -> Select[tuple[Inspection]]:
    """``query`` limited to what the actor may see, with the actor as ``:org`` and ``:port``: an agency the
    inspections it takes part in, an enterprise those serving its filings' declarations, a terminal those at
    its port.

    ``narrowed``: the query already finds few inspections (one by id, those of one filing). Each is then
    checked by its own participants or declarations (a correlated ``EXISTS``) or port, so that reaching one
    inspection costs the same however many an organisation or a port has. Otherwise the scope finds them:
    the organisation's inspections are listed first (``IN``), the port's through its index."""
    if scope == "agency":
        part = aliased(InspectionParticipant)
        mine = select(part.inspection_id).where(part.organisation_id == bindparam("org"))
    elif scope == "enterprise":
        serves, declaration, filing = aliased(InspectionDeclaration), aliased(Declaration), aliased(Filing)
        mine = (select(serves.inspection_id).join(declaration, declaration.id == serves.declaration_id)
                .join(filing, filing.id == declaration.filing_id).where(filing.enterprise_id == bindparam("org")))
    elif scope == "terminal":
        return query.where((checked_after(Inspection.port) if narrowed else Inspection.port) == bindparam("port"))
    elif scope == "nobody":
        return query.where(false())
    else:
        return query
    if not narrowed:
        return query.where(Inspection.id.in_(mine))
    inspection_id = mine.selected_columns[0]
    return query.where(mine.where(inspection_id == Inspection.id).correlate(Inspection).exists())


@cache
def _one_statement(scope: str, for_update: bool) -> Select[tuple[Inspection]]:
    """One inspection by ``:id`` with its parts, scoped (:func:`_scoped`)."""
    query = _scoped(select(Inspection).where(Inspection.id == bindparam("id")).options(*WITH_PARTS), scope)
    return for_change(query, of=Inspection) if for_update else query


def _with_parts(query: Select) -> Select:
    """``query`` (of inspections) selecting the columns of each inspection and of its parts: a row per
    container (its number) and participant."""
    inspections, containers = Inspection.__table__, InspectionContainer.__table__
    participants = InspectionParticipant.__table__
    return (query.with_only_columns(*columns(Inspection), containers.c.number, *columns(InspectionParticipant),
                                    maintain_column_froms=True)
            .outerjoin(containers, containers.c.inspection_id == inspections.c.id)
            .outerjoin(participants, participants.c.inspection_id == inspections.c.id))


@cache
def _one_prepared(scope: str, for_update: bool) -> Prepared:
    """:func:`_one_statement` as one prepared statement of columns (:func:`_with_parts`), in container number
    then agency order."""
    query = _with_parts(select(Inspection).where(Inspection.id == bindparam("id"))).order_by(
        InspectionContainer.number, InspectionParticipant.agency)
    query = _scoped(query, scope)
    return Prepared(for_change(query, of=Inspection.__table__) if for_update else query)


@cache
def _lock(scope: str) -> Prepared:
    """The id of the inspection ``:id`` if the actor may see it (:func:`_scoped`), the inspection locked."""
    query = _scoped(select(Inspection.id).where(Inspection.id == bindparam("id")), scope)
    return Prepared(for_change(query, of=Inspection.__table__))


def _one(ctx: Context, scope: str, parameters: dict, for_update: bool) -> Inspection | None:
    """One inspection with its containers and participants, from one prepared statement, as
    :func:`_detached` makes them (unless the session already holds inspections: the ORM's query then
    answers, with the objects it holds, refreshed when ``for_update``).

    ``for_update``: the inspection is locked first, then read with its parts where a lock may have been
    waited for (:func:`onewindow.sql.locks_are_waited_for`): two agencies recording their results at once
    each see the other's once it has committed, so the second completes the inspection."""
    locked = for_update
    if for_update and locks_are_waited_for(ctx.session):
        if not read(ctx.session, _lock(scope), parameters):
            return None
        for_update = False  # held: the statements below read what the lock's last holder committed
    if holds_any(ctx.session, Inspection, InspectionContainer, InspectionParticipant):
        return ctx.session.execute(_one_statement(scope, for_update), parameters,
                                   execution_options={"populate_existing": locked}).unique().scalar_one_or_none()
    found = _detached(_one_prepared(scope, for_update).all(ctx.session, parameters))
    return found[0] if found else None


def _detached(found: list[tuple]) -> list[Inspection]:
    """The inspections of rows of :func:`_with_parts` (each inspection's rows in its containers' then its
    participants' order), in the order of their first rows, with their containers and participants.

    They are returned as stored rows outside the session (detached, as after the end of a session): a
    relationship not read (their declarations) is refused rather than loaded, and their columns change only
    through :func:`onewindow.inspections.stored.write` (which writes them at once). Leaving them out spares
    the session's cascade over every part; a later query of an inspection loads it anew.
    """
    width = len(columns(Inspection))
    by_inspection: dict[tuple, list[tuple]] = {}
    for row in found:
        by_inspection.setdefault(row[:width], []).append(row)
    return [_assembled(inspection_row, rows, width) for inspection_row, rows in by_inspection.items()]


def _assembled(inspection_row: tuple, rows: list[tuple], width: int) -> Inspection:
    """One inspection of :func:`_detached` from its rows."""
    inspection = from_row(Inspection, inspection_row)
    numbers = dict.fromkeys(row[width] for row in rows if row[width] is not None)
    by_agency: dict[str, InspectionParticipant] = {}
    for row in rows:
        participant = from_row(InspectionParticipant, row[width + 1:])
        if participant.agency is not None and participant.agency not in by_agency:
            by_agency[participant.agency] = participant
    containers = [loaded(InspectionContainer, inspection_id=inspection.id, number=n) for n in numbers]
    set_committed_value(inspection, "containers", containers)
    set_committed_value(inspection, "participants", list(by_agency.values()))
    for obj in (inspection, *containers, *by_agency.values()):
        detached(obj)
    return inspection


def _refuse_change_outside_session(target: object, value: object, _old: object, _initiator: object) -> object:
    """An attribute set on an inspection or participant outside any session would be lost without a word (no
    flush will ever see it): refused, so that such changes go through ``stored.write``."""
    if instance_state(target).detached:
        raise RuntimeError(f"{type(target).__name__} is outside the session: change it with stored.write")
    return value


for _model in (Inspection, InspectionParticipant):
    for _attribute in sa_inspect(_model).column_attrs:
        event.listen(getattr(_model, _attribute.key), "set", _refuse_change_outside_session, retval=True)


def _listed(scope: str, of_filing: bool, in_status: bool) -> Select[tuple[Inspection]]:
    """The inspections :func:`list_inspections` finds, newest first, at most ``:limit``."""
    query = _scoped(select(Inspection), scope, narrowed=of_filing)
    if of_filing:
        query = query.where(Inspection.id.in_(_serving_filing(scope)))
    if in_status:
        query = query.where(Inspection.status == bindparam("status"))
    return query.order_by(Inspection.matched_at.desc(), Inspection.id).limit(bindparam("limit"))


def _serving_filing(scope: str) -> Select:
    """The ids of the inspections serving a declaration of ``:filing`` when the actor may see the filing: an
    enterprise its own, an agency one with a declaration filed to its office, a terminal those at its port
    (the inspections it is given are its port's). A filing the actor may not see is served by none: no
    enterprise learns which inspection serves another's consignment."""
    query = (select(InspectionDeclaration.inspection_id)
             .join(Declaration, Declaration.id == InspectionDeclaration.declaration_id)
             .where(Declaration.filing_id == bindparam("filing")))
    if scope == "enterprise":
        return query.join(Filing, Filing.id == Declaration.filing_id).where(Filing.enterprise_id == bindparam("org"))
    if scope == "agency":
        routed = aliased(Declaration)  # the filing's few declarations read by its index, not the office's many
        office = bindparam("org", type_=routed.organisation_id.type)
        return query.where(office.in_(select(routed.organisation_id).where(
            routed.filing_id == bindparam("filing"), routed.status != DeclarationStatus.draft.value)))
    if scope == "terminal":  # the consignments of its port, whose events it receives: the inspections are its port's
        return query
    return query.where(false())


@cache
def _list_statement(scope: str, of_filing: bool, in_status: bool) -> Select[tuple[Inspection]]:
    return _listed(scope, of_filing, in_status).options(*WITH_PARTS)


@cache
def _list_prepared(scope: str, of_filing: bool, in_status: bool) -> Prepared:
    """:func:`_listed` as one prepared statement of columns (:func:`_with_parts`): each inspection's rows
    together, newest first, in container number then agency order."""
    found = _listed(scope, of_filing, in_status).with_only_columns(Inspection.id).subquery()
    query = _with_parts(select(Inspection).join(found, found.c.id == Inspection.id))
    return Prepared(query.order_by(Inspection.matched_at.desc(), Inspection.id, InspectionContainer.number,
                                   InspectionParticipant.agency))


def list_inspections(ctx: Context, *, filing: uuid.UUID | None = None, status: str | None = None,
                     limit: int = 100) -> list[Inspection]:
    """The inspections the actor may see (``filing``: serving one filing; ``status``: in one status), newest
    first, with their containers and participants (one query; as :func:`_detached` makes them unless the
    session already holds inspections)."""
    actor = ctx.as_actor()
    key = (_scope(actor), filing is not None, status is not None)
    parameters = {"org": actor.org_id, "port": actor.organisation.port, "filing": filing, "status": status,
                  "limit": limit}
    if holds_any(ctx.session, Inspection, InspectionContainer, InspectionParticipant):
        return list(ctx.session.execute(_list_statement(*key), parameters).unique().scalars())
    return _detached(_list_prepared(*key).all(ctx.session, parameters))


def get_inspection(ctx: Context, inspection_id: str | uuid.UUID, *, for_update: bool = False) -> Inspection:
    """The inspection with its containers and participants (one query) if the actor may see it, else 404."""
    actor = ctx.as_actor()
    inspection = _one(ctx, _scope(actor), {"id": parse_id(inspection_id, "inspection"), "org": actor.org_id,
                                           "port": actor.organisation.port}, for_update)
    if inspection is None:
        raise NotFound.of("inspection", inspection_id)
    return inspection


def get_inspection_unscoped(ctx: Context, inspection_id: uuid.UUID, *, for_update: bool = False) -> Inspection:
    """An inspection reached through a record the actor already may see (that record's scope is the check)."""
    inspection = _one(ctx, "everyone", {"id": inspection_id}, for_update)
    if inspection is None:
        raise NotFound.of("inspection", inspection_id)
    return inspection


_TASK = select(*columns(RelocationTask)).where(RelocationTask.id == bindparam("id"),
                                               RelocationTask.port == bindparam("port"))
_TASK = {False: Prepared(_TASK), True: Prepared(for_change(_TASK))}
"""A task of ``:port`` by ``:id`` (locked with ``True``)."""


def get_task(ctx: Context, task_id: str, *, for_update: bool = False) -> RelocationTask:
    """A relocation task of the terminal's port, else 404."""
    actor = ctx.as_actor()
    task_id_ = parse_id(task_id, "task")
    if actor.kind is not OrgKind.terminal or not actor.organisation.port:
        raise NotFound.of("task", task_id)
    found = read(ctx.session, _TASK[for_update], {"id": task_id_, "port": actor.organisation.port})
    if not found:
        raise NotFound.of("task", task_id)
    return objects(ctx.session, RelocationTask, found)[0]
