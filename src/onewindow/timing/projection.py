"""The clearance-time study kept up to date from the event log (a projection behind a cursor).

:func:`project` reads the events after its cursor in feed order (``(tx, seq)``, final
ones only, exactly as the broker sink does: see :mod:`onewindow.events.feed`), finds
the consignments they touch and recomputes their :class:`ClearanceRecord` and
:class:`ClearanceAgencyRecord` rows from scratch, then moves the cursor, all in the
caller's transaction. The consignments of a batch of events are recomputed together
(:func:`refresh_filings`): a fixed number of set-based statements, built once, read
what they all need and replace their rows, however many consignments the batch
touches. Recomputing (rather than adding up changes) makes the projection
idempotent: running it twice, or after a crash, gives the same rows.
The cursor row (``sink_cursors`` named ``clearance``) is claimed ``FOR UPDATE SKIP
LOCKED``, so any number of schedulers may run it; one works at a time.
:func:`compute_step` and :func:`write_step` are a step in two: worked out on a
read-only snapshot, then stored (unless the cursor moved meanwhile); sound because
every state change writes its event, so a change after the snapshot is the next
step's work. The scheduler steps that way on SQLite.

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
  last container out, when all are out (then the record is ``complete``).
* A container's **visit** counted (the one carrying the consignment's goods, as
  :func:`onewindow.inspections.visits.left_with` decides it) is its first visit at
  the filing's port (or at no port yet) that had not gated out when the first of
  the consignment's declarations naming the container was accepted; while none of
  them is accepted, its visit not gated out yet (none when it is not in port). A
  visit that gated out before then left with another consignment's goods: its
  arrival, release and gate-out are not this consignment's. The visit's release
  counts only from that acceptance on (a container released before it was
  released for the goods then in it). So a record is complete only once the
  consignment has left in every container, which no later visit changes: a
  container's events refresh only the records not complete yet.
* The enterprise's credit level is taken when the consignment enters the study
  and kept (the level under which it was cleared).
"""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onewindow.context import Context
from onewindow.events.feed import horizon
from onewindow.rows import insert as insert_rows
from onewindow.sql import after_in_log, Prepared, PreparedIn
from onewindow.models import (
    AGENCIES, STAGES, ClearanceAgencyRecord, ClearanceRecord, ContainerVisit, CreditLevel, Declaration,
    DeclarationContainer, Event, Filing, Inspection, InspectionDeclaration, InspectionParticipant, Organisation,
    SinkCursor,
)
from onewindow.timing.milestones import AgencyTimeline, fold_declarations, latest_if_all, seconds, stages

CURSOR = "clearance"
DECLARATION_EVENTS = ("declaration.submitted", "declaration.rejected", "declaration.accepted",
                      "inspection.decided", "declaration.released", "declaration.release_revoked",
                      "declaration.withdrawn")


def _many(name: str):
    return bindparam(name, expanding=True)


class _Named:
    """A select prepared once (:class:`onewindow.sql.Prepared`), or per length of its ``IN`` lists ``names``
    (:class:`onewindow.sql.PreparedIn`; no list may be empty), whose rows have the statement's column names as
    Core's rows do. ``repeating``: columns whose values recur from row to row (converted once per value)."""

    def __init__(self, statement: Any, *names: str, repeating: tuple[str, ...] = ()) -> None:
        self._prepared = (PreparedIn(statement, *names, repeating=repeating) if names
                          else Prepared(statement, repeating=repeating))
        self._row = namedtuple("Row", [column.key for column in statement.selected_columns])  # type: ignore[misc]
        # a row of the statement's own columns made a named one (what ``_make`` does, without its length check)
        self._make = partial(tuple.__new__, self._row)

    def all(self, ctx: Context, parameters: dict[str, Any] | None = None) -> list[Any]:
        return list(map(self._make, self._prepared.all(ctx.session, parameters or {})))


# --- the statements, built once and prepared (run on the session's transaction) --------------------------------

_C, _E, _F, _D = SinkCursor.__table__.c, Event.__table__.c, Filing.__table__.c, Declaration.__table__.c
_ID, _DC = InspectionDeclaration.__table__.c, DeclarationContainer.__table__.c
_I, _IP, _V = Inspection.__table__.c, InspectionParticipant.__table__.c, ContainerVisit.__table__.c
_CR, _ORG = ClearanceRecord.__table__.c, Organisation.__table__.c

_CURSOR_SEED = Prepared({dialect: insert_(SinkCursor.__table__).values(name=CURSOR, tx=0, seq=0, published=0)
                         .on_conflict_do_nothing()
                         for dialect, insert_ in (("postgresql", pg_insert), ("default", sqlite_insert))})
_CURSOR = select(_C.tx, _C.seq, _C.published).where(_C.name == CURSOR)
_CURSOR_READ = Prepared(_CURSOR)
_CURSOR_CLAIM = Prepared(_CURSOR.with_for_update(skip_locked=True))
_CURSOR_MOVE = Prepared(update(SinkCursor.__table__).where(_C.name == CURSOR)
                        .values(tx=bindparam("tx"), seq=bindparam("seq"), published=bindparam("published"),
                                updated_at=bindparam("now")))
_EVENT_PAGE = (select(_E.tx, _E.seq, _E.type, _E.filing_id, _E.subject_type,
                      # what affected_filings reads: inspections' ids, containers' events' data
                      case((_E.subject_type == "inspection", _E.subject_id), else_=None).label("subject_id"),
                      case((or_(_E.subject_type == "container", _E.type == "container.arrived"), _E.data),
                           else_=None).label("data"))
               .where(after_in_log(_E.tx, _E.seq, bindparam("after_tx"), bindparam("after_seq")))
               .order_by(_E.tx, _E.seq).limit(bindparam("size")))
_EVENT_PAGES = {False: _Named(_EVENT_PAGE, repeating=("filing_id",)),  # SQLite: every event is final
                True: _Named(_EVENT_PAGE.where(_E.tx < bindparam("xmin")), repeating=("filing_id",))}
_FILINGS_OF_INSPECTIONS = _Named(
    select(_D.filing_id).join(InspectionDeclaration.__table__, _ID.declaration_id == _D.id)
    .where(_ID.inspection_id.in_(_many("inspections"))).distinct(), "inspections")
_FILINGS_OF_CONTAINERS = PreparedIn(
    select(_D.filing_id, _DC.number, _F.port).select_from(DeclarationContainer.__table__)
    .join(Declaration.__table__, _D.id == _DC.declaration_id)
    .join(Filing.__table__, _F.id == _D.filing_id)
    .outerjoin(ClearanceRecord.__table__, _CR.filing_id == _F.id)
    .where(_DC.number.in_(_many("numbers")), or_(_CR.complete.is_(None), _CR.complete.is_(False))), "numbers")

_FILINGS = _Named(select(
    _F.id, _F.direction, _F.port, _F.enterprise_id, _F.data["direction"].label("data_direction"),
    _F.data["transport_mode"].label("transport_mode"), _F.data["trade_mode"].label("trade_mode"),
    _F.data[("consignee", "uscc")].label("consignee_uscc"), _F.data["destination_country"].label("destination_country"),
    _F.data["trade_country"].label("trade_country"),
).where(_F.id.in_(_many("filings"))), "filings", repeating=("enterprise_id",))  # an enterprise files many
_TIMELINES = PreparedIn(select(_E.filing_id, _E.type, _E.subject_id, _E.occurred_at, _E.data)
                        .where(_E.filing_id.in_(_many("filings")), _E.subject_type == "declaration",
                               or_(*(_E.type == type_ for type_ in DECLARATION_EVENTS)))  # fixed: one IN list
                        .order_by(_E.filing_id, _E.tx, _E.seq),  # each filing's events together, in log order
                        "filings", repeating=("filing_id", "subject_id"))
_CREDIT_KEPT = PreparedIn(select(_CR.filing_id, _CR.credit_level).where(_CR.filing_id.in_(_many("filings"))),
                          "filings")
_CREDIT_NOW = PreparedIn(select(_ORG.id, _ORG.credit_level).where(_ORG.id.in_(_many("organisations"))),
                         "organisations")
_DECLARATIONS = _Named(select(_D.id, _D.filing_id, _D.agency, _D.office_code,
                              _D.data["containers"].label("containers"))
                       .where(_D.filing_id.in_(_many("filings"))).order_by(_D.agency), "filings",
                       repeating=("filing_id",))
_NO_SHOWS = (select(func.count()).where(_IP.inspection_id == _I.id, _IP.absent.is_(True))
             .correlate(Inspection.__table__).scalar_subquery())
_INSPECTIONS = _Named(select(_ID.declaration_id, _I.id, _I.port, _I.joint, _I.matched_at, _I.relocated_at,
                             _I.started_at, _I.completed_at, _NO_SHOWS.label("no_shows"))
                      .join(Inspection.__table__, _I.id == _ID.inspection_id)
                      .where(_ID.declaration_id.in_(_many("declarations"))), "declarations")
_VISITS = _Named(select(_V.number, _V.port, _V.arrived_at, _V.released_at, _V.gated_out_at)
                 .where(_V.number.in_(_many("numbers")), or_(_V.port.in_(_many("ports")), _V.port.is_(None)),
                        or_(_V.gated_out_at.is_(None), _V.gated_out_at >= bindparam("since")))
                 .order_by(_V.number, _V.created_at), "numbers", "ports")
_RECORDS, _AGENCY_RECORDS = ClearanceRecord.__table__, ClearanceAgencyRecord.__table__
_DELETE_AGENCY_ROWS = PreparedIn(delete(_AGENCY_RECORDS).where(_AGENCY_RECORDS.c.filing_id.in_(_many("filings"))),
                                 "filings")
_DELETE_RECORDS = PreparedIn(delete(_RECORDS).where(_RECORDS.c.filing_id.in_(_many("filings"))), "filings")


def _claim(ctx: Context) -> tuple[int, int, int] | None:
    """The projection's cursor ``(tx, seq, published)``, locked for this transaction; None while another
    scheduler holds it."""
    _CURSOR_SEED.execute(ctx.session)
    return _CURSOR_CLAIM.first(ctx.session)


def project(ctx: Context, *, batch: int = 1000, limit: int | None = None) -> int:
    """Apply the final events after the cursor (at most ``limit``); returns how many events were read."""
    ctx.session.flush()  # the statements below run on the connection: the unit of work's changes first
    claimed = _claim(ctx)
    if claimed is None:
        return 0
    tx, seq, published = claimed
    done, xmin = 0, horizon(ctx)
    page, params = _EVENT_PAGES[xmin is not None], ({} if xmin is None else {"xmin": xmin})
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        events = page.all(ctx, {**params, "after_tx": tx, "after_seq": seq, "size": size})
        if not events:
            break
        refresh_filings(ctx, affected_filings(ctx, events))
        tx, seq = events[-1].tx, events[-1].seq
        published += len(events)
        done += len(events)
        if len(events) < size:
            break
    if done:
        _CURSOR_MOVE.execute(ctx.session, {"tx": tx, "seq": seq, "published": published, "now": ctx.now()})
    return done


def pending(ctx: Context) -> int:
    """Events written after the cursor (final or not): 0 when the study is up to date."""
    cursor = ctx.session.execute(select(SinkCursor.tx, SinkCursor.seq).where(SinkCursor.name == CURSOR)).first()
    tx, seq = (cursor.tx, cursor.seq) if cursor else (0, 0)
    return ctx.session.scalar(select(func.count()).select_from(Event).where(
        after_in_log(Event.tx, Event.seq, tx, seq))) or 0


def affected_filings(ctx: Context, events: Iterable[Any]) -> set[uuid.UUID]:
    """The consignments an event batch may change: its filings, those of its inspections and containers.

    ``events`` are :class:`Event` rows or anything with their ``type``, ``filing_id``, ``subject_type``,
    ``subject_id`` and ``data``."""
    named: dict[int, uuid.UUID] = {}  # filing ids by their .int: each added to the set once
    inspections, containers = set(), set()
    for e in events:
        if e.filing_id and e.type != "filing.created":  # a new filing is staged: not in the study yet
            named[e.filing_id.int] = e.filing_id
        if e.subject_type == "inspection":
            inspections.add(e.subject_id)
        data = e.data or {}
        if e.subject_type == "container" and data.get("container"):
            containers.add((data["container"], data.get("port")))
        if e.type == "container.arrived":
            containers |= {(n, data.get("port")) for n in data.get("containers", [])}
    filings = set(named.values())
    if inspections:
        found = _FILINGS_OF_INSPECTIONS.all(ctx, {"inspections": sorted(inspections, key=_BY_VALUE)})
        filings |= {row.filing_id for row in found}
    if containers:
        filings |= _filings_of_containers(ctx, containers)
    return filings


def _filings_of_containers(ctx: Context, containers: set[tuple[str, str | None]]) -> set[uuid.UUID]:
    """Filings at the container's port covering it, whose records are not yet complete: a complete record's
    consignment has left in each of its containers (the module's contract), so no later visit changes it."""
    rows = _FILINGS_OF_CONTAINERS.all(ctx.session, {"numbers": sorted({n for n, _ in containers})})
    return {fid for fid, number, port in rows if (number, port) in containers or (number, None) in containers}


def refresh_filings(ctx: Context, filing_ids: Iterable[uuid.UUID]) -> int:
    """Recompute the records and agency rows of the consignments ``filing_ids`` from their events, together;
    a consignment no longer in the study loses its rows. Returns how many are in the study.

    A fixed number of statements whatever the number of consignments: what they need is read set-based
    (filings, declaration events, declarations, inspections, container visits), their rows are deleted and
    the new ones inserted in bulk."""
    rows = study_rows(ctx, filing_ids)
    _replace(ctx, rows)
    return len(rows.records)


@dataclass(frozen=True)
class StudyRows:
    """The consignments recomputed (``filings``) and the rows they now have in the study."""

    filings: list[uuid.UUID]
    records: list[dict[str, Any]]
    agency_rows: list[dict[str, Any]]


def study_rows(ctx: Context, filing_ids: Iterable[uuid.UUID]) -> StudyRows:
    """The rows of the consignments ``filing_ids`` as their events, declarations, inspections and containers
    now say (:func:`refresh_filings` without writing them; reads only)."""
    ids = sorted(set(filing_ids), key=_BY_VALUE)
    records: list[dict[str, Any]] = []
    agency_rows: list[dict[str, Any]] = []
    if ids:
        batch = _Batch.load(ctx, ids)
        for filing_id in batch.in_study:
            record, agencies = batch.rows_of(filing_id)
            records.append(record)
            agency_rows += agencies
    return StudyRows(ids, records, agency_rows)


def _replace(ctx: Context, rows: StudyRows) -> None:
    """Replace the study rows of ``rows.filings`` with ``rows``."""
    if not rows.filings:
        return
    _DELETE_AGENCY_ROWS.execute(ctx.session, {"filings": rows.filings})
    _DELETE_RECORDS.execute(ctx.session, {"filings": rows.filings})
    insert_rows(ctx.session, ClearanceRecord, rows.records)
    insert_rows(ctx.session, ClearanceAgencyRecord, rows.agency_rows)


# --- one step worked out beside the writers (SQLite) ---------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """Up to a step's events after the cursor ``start`` (``events`` of them, the last at ``end``), and the study
    rows they lead to, worked out on a snapshot by :func:`compute_step`; :func:`write_step` stores them."""

    start: tuple[int, int]
    end: tuple[int, int]
    events: int
    rows: StudyRows


def compute_step(ctx: Context, *, limit: int) -> Step:
    """Read only: the next events (at most ``limit``, final ones) and the rows of the consignments they touch,
    as :func:`project` would write them."""
    cursor = _CURSOR_READ.first(ctx.session)
    start = (cursor[0], cursor[1]) if cursor else (0, 0)
    xmin = horizon(ctx)
    page, params = _EVENT_PAGES[xmin is not None], ({} if xmin is None else {"xmin": xmin})
    events = page.all(ctx, {**params, "after_tx": start[0], "after_seq": start[1], "size": limit})
    if not events:
        return Step(start, start, 0, StudyRows([], [], []))
    return Step(start, (events[-1].tx, events[-1].seq), len(events), study_rows(ctx, affected_filings(ctx, events)))


def write_step(ctx: Context, step: Step) -> int:
    """Store ``step`` and move the cursor past its events, unless the cursor is no longer where the step started
    (another projector moved it meanwhile: nothing is written). Returns the events applied."""
    if not step.events:
        return 0
    claimed = _claim(ctx)
    if claimed is None or claimed[:2] != step.start:
        return 0
    _replace(ctx, step.rows)
    _CURSOR_MOVE.execute(ctx.session, {"tx": step.end[0], "seq": step.end[1],
                                       "published": claimed[2] + step.events, "now": ctx.now()})
    return step.events


@dataclass
class _Batch:
    """What the records of a batch of consignments are computed from, read with one statement per kind; then
    each consignment's rows (:meth:`rows_of`).

    Filings, declarations and inspections are looked up by their UUID's integer value (``.int``): the same
    identity, hashed and compared without a Python call each time (a ``UUID`` hashes in Python)."""

    now: datetime
    zone: ZoneInfo
    filings: dict[int, Any]
    timelines: dict[int, dict[int, AgencyTimeline]]
    """Filing → its declarations followed through their events, by declaration."""
    active: dict[int, dict[int, AgencyTimeline]]
    """Filing in the study → its declarations taking part (filed and not withdrawn), by declaration."""
    filed: dict[int, datetime]
    """Filing in the study → its first lodgement."""
    in_study: list[uuid.UUID]
    credit: dict[int, str]
    declarations: dict[int, list[Any]]
    """Filing in the study → its declarations taking part, as read."""
    inspections: dict[int, list[Any]]
    """Declaration → its inspections."""
    numbers: dict[int, list[str]]
    """Filing in the study → the numbers of the containers its declarations taking part cover, sorted (none:
    not there)."""
    visits: dict[str, list[Any]]

    @classmethod
    def load(cls, ctx: Context, ids: list[uuid.UUID]) -> _Batch:
        filings = {row.id.int: row for row in _FILINGS.all(ctx, {"filings": ids})}
        timelines = _timelines(ctx, [row.id for row in filings.values()]) if filings else {}
        active, filed = {}, {}
        for fid, found in timelines.items():
            taking_part = {did: t for did, t in found.items() if t.filed_at is not None and not t.withdrawn}
            if taking_part:
                active[fid] = taking_part
                filed[fid] = min([t.filed_at for t in found.values() if t.filed_at])
        batch = cls(now=ctx.now(), zone=ZoneInfo(ctx.settings.clearance_timezone), filings=filings,
                    timelines=timelines, active=active, filed=filed,
                    in_study=[fid for fid in ids if fid.int in active],
                    credit={}, declarations={}, inspections={}, numbers={}, visits={})
        if batch.in_study:
            batch._load_related(ctx)
        return batch

    def _load_related(self, ctx: Context) -> None:
        self.credit_levels(ctx)
        self.declarations = declarations = {fid.int: [] for fid in self.in_study}
        for row in _DECLARATIONS.all(ctx, {"filings": self.in_study}):
            fid = row.filing_id.int
            if row.id.int in self.active[fid]:
                declarations[fid].append(row)
        declaration_ids = [row.id for rows in declarations.values() for row in rows]
        if declaration_ids:
            for row in _INSPECTIONS.all(ctx, {"declarations": declaration_ids}):
                self.inspections.setdefault(row.declaration_id.int, []).append(row)
        for fid, rows in declarations.items():
            numbers = sorted({c["number"] for d in rows for c in d.containers or ()})
            if numbers:
                self.numbers[fid] = numbers
        if self.numbers:
            params = {"numbers": sorted({n for numbers in self.numbers.values() for n in numbers}),
                      "ports": sorted({self.filings[fid.int].port for fid in self.in_study}),
                      "since": min(self.filed.values())}
            for row in _VISITS.all(ctx, params):
                self.visits.setdefault(row.number, []).append(row)

    def credit_levels(self, ctx: Context) -> None:
        """The credit level each consignment keeps (taken when it entered the study)."""
        self.credit = {fid.int: level for fid, level in _CREDIT_KEPT.all(ctx.session, {"filings": self.in_study})}
        entering = [self.filings[fid.int].enterprise_id for fid in self.in_study if fid.int not in self.credit]
        if entering:
            organisations = sorted(set(entering), key=_BY_VALUE)
            levels = {org.int: level for org, level in _CREDIT_NOW.all(ctx.session, {"organisations": organisations})}
            for fid in self.in_study:
                if fid.int not in self.credit:
                    level = levels.get(self.filings[fid.int].enterprise_id.int)
                    self.credit[fid.int] = level or CreditLevel.general.value

    def rows_of(self, filing_id: uuid.UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The consignment's :class:`ClearanceRecord` row and its :class:`ClearanceAgencyRecord` rows (see the
        module's contract)."""
        key = filing_id.int
        filing, filed_at, declarations = self.filings[key], self.filed[key], self.declarations[key]
        in_force = list(self.active[key].values())
        by_agency: dict[str, AgencyTimeline] = {}  # each agency's declaration in force: the last taking part
        for t in in_force:
            by_agency[t.agency] = t
        offices = {d.agency: d.office_code for d in declarations}
        record = {"filing_id": filing_id, "direction": filing.direction, "port": filing.port,
                  "customs_office": offices.get("customs"), "ciq_office": offices.get("ciq"),
                  "transport_mode": filing.transport_mode, "trade_mode": filing.trade_mode,
                  "destination": destination(filing), "credit_level": self.credit[key], "filed_at": filed_at,
                  "rejections": sum([t.rejections for t in self.timelines[key].values()]),
                  "accepted_at": latest_if_all([t.accepted_at for t in in_force]),
                  "decided_at": latest_if_all([t.decided_at for t in in_force]),
                  "projected_at": self.now}
        record |= self._inspected(declarations) | self._containers(key, filing.port, declarations, in_force)
        arrived_at = record["arrived_at"]
        record["pre_arrival"] = arrived_at is not None and filed_at < arrived_at
        record["started_at"] = started_at = filed_at if arrived_at is None else min(arrived_at, filed_at)
        record["started_on"] = started_on = started_at.astimezone(self.zone).date()  # local_day
        record["started_week"] = week_of(started_on)
        for stage, value in stages(arrived_at, filed_at, record["released_at"], record["gated_out_at"]).items():
            record[_STAGE_COLUMNS[stage]] = value
        for agency, column in _AGENCY_COLUMNS:
            own = by_agency.get(agency)
            record[column] = None if own is None else seconds(own.filed_at, own.released_at)
        agency_rows = [{"filing_id": filing_id, "agency": agency, "office": t.office, "filed_at": t.filed_at,
                        "accepted_at": t.accepted_at, "decided_at": t.decided_at, "released_at": t.released_at,
                        "rejections": t.rejections, "filing_to_release_seconds": seconds(t.filed_at, t.released_at)}
                       for agency, t in sorted(by_agency.items())]
        return record, agency_rows

    def _inspected(self, declarations: list[Any]) -> dict[str, Any]:
        seen: dict[int, Any] = {}
        for d in declarations:
            for row in self.inspections.get(d.id.int, ()):
                seen.setdefault(row.id.int, row)
        if not seen:
            return dict(_NOT_INSPECTED)
        found = sorted(seen.values(), key=_MATCH_ORDER) if len(seen) > 1 else list(seen.values())
        started = [i.started_at for i in found if i.started_at]
        return {"inspections": len(found),
                "inspection": "joint" if any([i.joint for i in found]) else "single",
                "inspection_place": found[0].port,
                "no_shows": sum([i.no_shows for i in found]),
                "matched_at": found[0].matched_at,
                "relocated_at": latest_if_all([i.relocated_at for i in found]),
                "inspection_started_at": min(started) if started else None,
                "inspection_completed_at": latest_if_all([i.completed_at for i in found])}

    def _containers(self, key: int, port: str, declarations: list[Any],
                    in_force: list[AgencyTimeline]) -> dict[str, Any]:
        numbers = self.numbers.get(key)
        if not numbers:
            released = latest_if_all([t.released_at for t in in_force])
            return {"arrived_at": None, "gated_out_at": None, "released_at": released,
                    "complete": released is not None}
        stays = self._stays(numbers, port, self._covered_since(key, declarations))
        arrivals = [visit.arrived_at for visit, _ in stays if visit.arrived_at]
        whole = len(stays) == len(numbers)
        gated_out = latest_if_all([visit.gated_out_at for visit, _ in stays]) if whole else None
        released = [visit.released_at if since is not None and visit.released_at is not None
                    and visit.released_at >= since else None for visit, since in stays]
        return {"arrived_at": min(arrivals) if arrivals else None,
                "released_at": latest_if_all(released) if whole else None,
                "gated_out_at": gated_out, "complete": gated_out is not None}

    def _covered_since(self, key: int, declarations: list[Any]) -> dict[str, datetime | None]:
        """Container → the first acceptance of the consignment's declarations taking part that name it (None
        while none of them is accepted): from then on the container carries the consignment's goods."""
        timelines, since = self.active[key], {}
        for d in declarations:
            accepted = timelines[d.id.int].accepted_at
            for container in d.containers or ():
                number = container["number"]
                known = since.get(number)
                since[number] = accepted if known is None else known if accepted is None else min(known, accepted)
        return since

    def _stays(self, numbers: list[str], port: str,
               since: dict[str, datetime | None]) -> list[tuple[Any, datetime | None]]:
        """Each container's visit that carries this consignment, with the first acceptance of a declaration of
        the consignment naming it (the module's contract): its first visit at the filing's port (or at no port)
        that had not gated out by that acceptance, or, before any, that has not gated out."""
        chosen = []
        for number in numbers:
            accepted = since.get(number)
            for visit in self.visits.get(number, ()):
                if (visit.port == port or visit.port is None) and (
                        visit.gated_out_at is None or (accepted is not None and visit.gated_out_at >= accepted)):
                    chosen.append((visit, accepted))
                    break
        return chosen


def _timelines(ctx: Context, filing_ids: list[uuid.UUID]) -> dict[int, dict[int, AgencyTimeline]]:
    """Each filing's declarations followed through their events (:func:`fold_declarations`), by the filing's
    and the declaration's ``.int``; filings without declaration events are left out."""
    events: dict[int, list[tuple]] = {}
    last, found = None, []
    for fid, type_, subject, at, data in _TIMELINES.all(ctx.session, {"filings": filing_ids}):
        if fid is not last:  # the rows come filing by filing (the same object while the filing lasts, on SQLite)
            last, found = fid, events.setdefault(fid.int, [])
        found.append((type_, subject.int, at, data or {}))
    return {fid: fold_declarations(found) for fid, found in events.items()}


_BY_VALUE = attrgetter("int")
"""The sort key of a UUID that orders as UUIDs do (by their value), without a call of ``UUID.__lt__`` each."""
_MATCH_ORDER = attrgetter("matched_at", "id.int")
"""Inspections in the order they were matched (then by id: the same order as the ids' text)."""
_STAGE_COLUMNS = {stage: f"{stage}_seconds" for stage in STAGES}
_AGENCY_COLUMNS = tuple((agency, f"{agency}_filing_to_release_seconds") for agency in AGENCIES)
_NOT_INSPECTED = {"inspections": 0, "inspection": "none", "inspection_place": None, "no_shows": 0,
                  "matched_at": None, "relocated_at": None, "inspection_started_at": None,
                  "inspection_completed_at": None}


def destination(filing: Any) -> str | None:
    """Import (the filing's data says so): the consignee's administrative division (the USCC's characters 3–8,
    e.g. 210200 Dalian); export: the destination country (ISO 3166 alpha-3), else the trading country.
    ``filing`` has the data's ``data_direction``, ``consignee_uscc``, ``destination_country`` and
    ``trade_country``."""
    if filing.data_direction == "import":
        return filing.consignee_uscc[2:8] if filing.consignee_uscc else None
    return filing.destination_country or filing.trade_country


def local_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())
