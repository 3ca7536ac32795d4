"""The clearance-time study kept up to date from the event log (a projection behind a cursor).

:func:`project` reads the events after its cursor in feed order (``(tx, seq)``, final
ones only, exactly as the broker sink does: see :mod:`onewindow.events.feed`), finds
the consignments they touch and recomputes each one's :class:`ClearanceRecord` and
:class:`ClearanceAgencyRecord` rows from scratch, then moves the cursor, all in the
caller's transaction. Recomputing (rather than adding up changes) makes the
projection idempotent: running it twice, or after a crash, gives the same rows.
The cursor row (``sink_cursors`` named ``clearance``) is claimed ``FOR UPDATE SKIP
LOCKED``, so any number of schedulers may run it; one works at a time.

What a consignment's record says (the contract):

* A consignment is a filing; it enters the study when its first declaration is
  filed (drafts are not counted) and leaves it if its filing disappears.
* Filing = the first lodgement of any declaration. A **rejected** declaration
  that is corrected and filed again keeps its first lodgement time: the rework
  counts in the agencies' stage and in ``rejections``. A withdrawn declaration
  (rejected, then no longer made) takes no further part.
* Each agency's release is the release **in force**: a **revoked** release (a
  hold) clears it and a later release sets it again; the combined release is
  the moment the last of the consignment's containers became released (its
  visit's release in force), or without containers the last agency release.
* Inspection: ``joint`` when any inspection of the consignment was matched
  jointly, ``single`` when inspected only by agencies alone, ``none`` otherwise.
  An **absent** agency (no-show) leaves the inspection joint and is counted in
  ``no_shows``; a **late decision** that gets its own inspection adds to
  ``inspections``; matching, relocation, start and end are the first match, the
  last relocation, the first start and the last completion.
* Arrival is the first discharge of the consignment's containers; gate-out the
  last container out, when all are out (then the record is ``complete``). A
  container's stay counted is its first visit at the filing's port still open
  when the filing was first lodged (or opened after).
* The enterprise's credit level is taken when the consignment enters the study
  and kept (the level under which it was cleared).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onewindow.context import Context
from onewindow.events.feed import horizon
from onewindow.inspections.visits import declaration_numbers
from onewindow.models import (
    AGENCIES, ClearanceAgencyRecord, ClearanceRecord, ContainerVisit, CreditLevel, Declaration, DeclarationContainer,
    Event, Filing, Inspection, InspectionDeclaration, Organisation, SinkCursor,
)
from onewindow.timing.milestones import AgencyTimeline, fold_declarations, latest_if_all, seconds, stages

CURSOR = "clearance"
DECLARATION_EVENTS = ("declaration.submitted", "declaration.rejected", "declaration.accepted",
                      "inspection.decided", "declaration.released", "declaration.release_revoked",
                      "declaration.withdrawn")


def _claim(ctx: Context) -> SinkCursor | None:
    """The projection's cursor, locked for this transaction; None while another scheduler holds it."""
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    ctx.session.execute(insert(SinkCursor).values(name=CURSOR, tx=0, seq=0, published=0).on_conflict_do_nothing())
    return ctx.session.scalar(select(SinkCursor).where(SinkCursor.name == CURSOR)
                              .with_for_update(skip_locked=True).execution_options(populate_existing=True))


def project(ctx: Context, *, batch: int = 1000, limit: int | None = None) -> int:
    """Apply the final events after the cursor (at most ``limit``); returns how many events were read."""
    cursor = _claim(ctx)
    if cursor is None:
        return 0
    done, xmin = 0, horizon(ctx)
    while limit is None or done < limit:
        query = select(Event).where(tuple_(Event.tx, Event.seq) > tuple_(cursor.tx, cursor.seq))
        if xmin is not None:
            query = query.where(Event.tx < xmin)
        size = batch if limit is None else min(batch, limit - done)
        events = list(ctx.session.scalars(query.order_by(Event.tx, Event.seq).limit(size)))
        if not events:
            break
        for filing_id in sorted(affected_filings(ctx, events)):
            refresh(ctx, filing_id)
        cursor.tx, cursor.seq, cursor.updated_at = events[-1].tx, events[-1].seq, ctx.now()
        cursor.published += len(events)
        done += len(events)
        if len(events) < size:
            break
    return done


def pending(ctx: Context) -> int:
    """Events written after the cursor (final or not): 0 when the study is up to date."""
    cursor = ctx.session.scalar(select(SinkCursor).where(SinkCursor.name == CURSOR))
    tx, seq = (cursor.tx, cursor.seq) if cursor else (0, 0)
    return ctx.session.scalar(select(func.count()).select_from(Event).where(
        tuple_(Event.tx, Event.seq) > tuple_(tx, seq))) or 0


def affected_filings(ctx: Context, events: Iterable[Event]) -> set[uuid.UUID]:
    """The consignments an event batch may change: its filings, those of its inspections and containers."""
    filings, inspections, containers = set(), set(), set()
    for e in events:
        if e.filing_id and e.type != "filing.created":  # a new filing is staged: not in the study yet
            filings.add(e.filing_id)
        if e.subject_type == "inspection":
            inspections.add(e.subject_id)
        data = e.data or {}
        if e.subject_type == "container" and data.get("container"):
            containers.add((data["container"], data.get("port")))
        if e.type == "container.arrived":
            containers |= {(n, data.get("port")) for n in data.get("containers", [])}
    if inspections:
        filings |= set(ctx.session.scalars(
            select(Declaration.filing_id).join(InspectionDeclaration,
                                               InspectionDeclaration.declaration_id == Declaration.id)
            .where(InspectionDeclaration.inspection_id.in_(inspections)).distinct()))
    if containers:
        filings |= _filings_of_containers(ctx, containers)
    return filings


def _filings_of_containers(ctx: Context, containers: set[tuple[str, str | None]]) -> set[uuid.UUID]:
    """Filings at the container's port covering it, whose records are not yet complete."""
    rows = ctx.session.execute(
        select(Declaration.filing_id, DeclarationContainer.number, Filing.port)
        .join(Declaration, Declaration.id == DeclarationContainer.declaration_id)
        .join(Filing, Filing.id == Declaration.filing_id)
        .outerjoin(ClearanceRecord, ClearanceRecord.filing_id == Filing.id)
        .where(DeclarationContainer.number.in_(sorted({n for n, _ in containers})),
               or_(ClearanceRecord.complete.is_(None), ClearanceRecord.complete.is_(False))))
    return {fid for fid, number, port in rows if (number, port) in containers or (number, None) in containers}


def _timelines(ctx: Context, filing_id: uuid.UUID) -> dict[str, AgencyTimeline]:
    rows = ctx.session.execute(
        select(Event.type, Event.subject_id, Event.occurred_at, Event.data)
        .where(Event.filing_id == filing_id, Event.subject_type == "declaration",
               Event.type.in_(DECLARATION_EVENTS))
        .order_by(Event.tx, Event.seq))
    return fold_declarations([(t, str(s), at, data or {}) for t, s, at, data in rows])


def refresh(ctx: Context, filing_id: uuid.UUID) -> ClearanceRecord | None:
    """Recompute one consignment's record and agency rows from its events; None when it is not in the study."""
    filing = ctx.session.get(Filing, filing_id)
    timelines = _timelines(ctx, filing_id) if filing else {}
    active = {did: t for did, t in timelines.items() if t.active}
    record = ctx.session.get(ClearanceRecord, filing_id)
    if not active:
        if record is not None:
            ctx.session.execute(delete(ClearanceAgencyRecord).where(ClearanceAgencyRecord.filing_id == filing_id))
            ctx.session.delete(record)
        return None
    filed_at = min(t.filed_at for t in timelines.values() if t.filed_at)
    if record is None:
        record = ClearanceRecord(filing_id=filing_id, credit_level=_credit_level(ctx, filing))
    declarations = [d for d in filing.declarations if str(d.id) in active]
    _dimensions(record, filing, declarations)
    _inspections(ctx, record, [d.id for d in declarations])
    _containers(ctx, record, filing, declarations, filed_at, active)
    record.filed_at = filed_at
    record.rejections = sum(t.rejections for t in timelines.values())
    record.accepted_at = latest_if_all([t.accepted_at for t in active.values()])
    record.decided_at = latest_if_all([t.decided_at for t in active.values()])
    record.pre_arrival = record.arrived_at is not None and filed_at < record.arrived_at
    _place_in_time(ctx, record)
    for stage, value in stages(record.arrived_at, filed_at, record.released_at, record.gated_out_at).items():
        setattr(record, f"{stage}_seconds", value)
    for agency in AGENCIES:
        own = [t for t in active.values() if t.agency == agency]
        setattr(record, f"{agency}_filing_to_release_seconds",
                seconds(own[-1].filed_at, own[-1].released_at) if own else None)
    record.projected_at = ctx.now()
    ctx.session.add(record)
    ctx.session.flush()
    _agency_rows(ctx, filing_id, active)
    return record


def _credit_level(ctx: Context, filing: Filing) -> str:
    level = ctx.session.scalar(select(Organisation.credit_level).where(Organisation.id == filing.enterprise_id))
    return level or CreditLevel.general.value


def _dimensions(record: ClearanceRecord, filing: Filing, declarations: list[Declaration]) -> None:
    data, offices = filing.data, {d.agency: d.office_code for d in declarations}
    record.direction, record.port = filing.direction, filing.port
    record.customs_office, record.ciq_office = offices.get("customs"), offices.get("ciq")
    record.transport_mode, record.trade_mode = data.get("transport_mode"), data.get("trade_mode")
    record.destination = destination(data)


def destination(data: dict) -> str | None:
    """Import: the consignee's administrative division (the USCC's characters 3–8, e.g. 210200 Dalian);
    export: the destination country (ISO 3166 alpha-3), else the trading country."""
    if data.get("direction") == "import":
        uscc = (data.get("consignee") or {}).get("uscc")
        return uscc[2:8] if uscc else None
    return data.get("destination_country") or data.get("trade_country")


def _inspections(ctx: Context, record: ClearanceRecord, declaration_ids: list[uuid.UUID]) -> None:
    found = list(ctx.session.scalars(
        select(Inspection).join(InspectionDeclaration, InspectionDeclaration.inspection_id == Inspection.id)
        .where(InspectionDeclaration.declaration_id.in_(declaration_ids)).distinct()))
    found.sort(key=lambda i: (i.matched_at, str(i.id)))
    record.inspections = len(found)
    record.inspection = "joint" if any(i.joint for i in found) else ("single" if found else "none")
    record.inspection_place = found[0].port if found else None
    record.no_shows = sum(1 for i in found for p in i.participants if p.absent)
    record.matched_at = found[0].matched_at if found else None
    record.relocated_at = latest_if_all([i.relocated_at for i in found])
    started = [i.started_at for i in found if i.started_at]
    record.inspection_started_at = min(started) if started else None
    record.inspection_completed_at = latest_if_all([i.completed_at for i in found])


def _containers(ctx: Context, record: ClearanceRecord, filing: Filing, declarations: list[Declaration],
                filed_at: datetime, active: dict[str, AgencyTimeline]) -> None:
    numbers = sorted({n for d in declarations for n in declaration_numbers(d)})
    releases = [t.released_at for t in active.values()]
    if not numbers:
        record.arrived_at, record.gated_out_at = None, None
        record.released_at = latest_if_all(releases)
        record.complete = record.released_at is not None
        return
    visits = _visits(ctx, numbers, filing.port, filed_at)
    arrivals = [v.arrived_at for v in visits if v.arrived_at]
    record.arrived_at = min(arrivals) if arrivals else None
    whole = len(visits) == len(numbers)
    record.released_at = latest_if_all([v.released_at for v in visits]) if whole else None
    record.gated_out_at = latest_if_all([v.gated_out_at for v in visits]) if whole else None
    record.complete = record.gated_out_at is not None


def _visits(ctx: Context, numbers: list[str], port: str, filed_at: datetime) -> list[ContainerVisit]:
    """Each container's stay that carries this consignment (see the module's contract)."""
    v = ContainerVisit
    rows = ctx.session.scalars(
        select(v).where(v.number.in_(numbers), or_(v.port == port, v.port.is_(None)),
                        or_(v.gated_out_at.is_(None), v.gated_out_at >= filed_at))
        .order_by(v.number, v.created_at))
    chosen: dict[str, ContainerVisit] = {}
    for visit in rows:
        chosen.setdefault(visit.number, visit)
    return list(chosen.values())


def _place_in_time(ctx: Context, record: ClearanceRecord) -> None:
    """The consignment counts in the day (and week) of its first milestone, in the study's time zone."""
    record.started_at = min(t for t in (record.arrived_at, record.filed_at) if t is not None)
    record.started_on = local_day(record.started_at, ctx.settings.clearance_timezone)
    record.started_week = week_of(record.started_on)


def local_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def _agency_rows(ctx: Context, filing_id: uuid.UUID, active: dict[str, AgencyTimeline]) -> None:
    ctx.session.execute(delete(ClearanceAgencyRecord).where(ClearanceAgencyRecord.filing_id == filing_id))
    by_agency: dict[str, AgencyTimeline] = {}
    for t in active.values():
        by_agency[t.agency] = t
    ctx.session.add_all(
        ClearanceAgencyRecord(filing_id=filing_id, agency=agency, office=t.office, filed_at=t.filed_at,
                              accepted_at=t.accepted_at, decided_at=t.decided_at, released_at=t.released_at,
                              rejections=t.rejections, filing_to_release_seconds=seconds(t.filed_at, t.released_at))
        for agency, t in sorted(by_agency.items()))
