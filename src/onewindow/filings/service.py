"""The enterprise's side of one declaration: enter once, stage, edit, file.

Every function takes a :class:`~onewindow.context.Context`, only flushes (the
caller's unit of work commits), and writes an event for each state change.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm.attributes import set_committed_value

from onewindow.context import Context
from onewindow.errors import Conflict, Text, ValidationFailed, field_error, joined
from onewindow.events.service import record_event
from onewindow import rows
from onewindow.filings import repository
from onewindow.filings.schemas import FilingEntry
from onewindow.filings.split import CIQ, CUSTOMS, Part, inspection_lines, owners, split
from onewindow.filings.validation import parse_entry
from onewindow.models import (
    STAGED_STATUSES, Declaration, DeclarationContainer, DeclarationStatus, DeclarationVersion, Filing, FilingStatus,
    FilingVersion, OrgKind,
)
from onewindow.inspections.visits import declaration_numbers, sync_declaration_containers
from onewindow.parties.permissions import Permission
from onewindow.parties.service import find_offices
from onewindow.refdata.catalogue import InspectionCatalogue, get_catalogue

AGENCY_KIND = {CUSTOMS: OrgKind.customs, CIQ: OrgKind.ciq}
AGENCY_NAMES = {CUSTOMS: Text("customs"), CIQ: Text("ciq")}
"""The agencies as messages name them (the English is the agency's code)."""
STATUS_NAMES = {"draft": Text("draft"), "submitted": Text("submitted"), "accepted": Text("accepted"),
                "rejected": Text("rejected"), "inspecting": Text("inspecting"), "released": Text("released"),
                "withdrawn": Text("withdrawn")}
"""A declaration's statuses as messages name them (the English is the status itself)."""


def catalogue(ctx: Context) -> InspectionCatalogue:
    path = ctx.settings.inspection_catalogue
    return get_catalogue(str(path) if path else None)


def _catalogued_lines(ctx: Context, raw: dict[str, Any]) -> dict[int, Any]:
    """Index → catalogue entry of each goods line (as entered) that needs inspection or quarantine."""
    items = raw.get("items")
    table = catalogue(ctx)
    found = {}
    for i, item in enumerate(items if isinstance(items, list) else []):
        code = item.get("hs_code") if isinstance(item, dict) else None
        if isinstance(code, str) and (hit := table.lookup(code.strip())) is not None:
            found[i] = hit
    return found


def _routing_errors(ctx: Context, raw: dict[str, Any], lines: dict[int, Any], bad: set[tuple],
                    offices: dict[str, Any]) -> list[dict]:
    """Errors for offices that are missing or not registered; fills ``offices`` (agency → office id).

    Works on the entry as entered so these errors come with every other one
    (``lines``: its goods lines that need inspection or quarantine); an office
    field that already has an error of its own is not looked up.
    """
    errors = []
    wanted = {}
    for agency in (CUSTOMS, CIQ):
        field = f"{agency}_office"
        code = raw.get(field)
        if agency == CIQ and not lines:
            continue
        if agency == CIQ and code is None:
            names = ", ".join(f"{i} ({hit.category})" for i, hit in sorted(lines.items()))
            errors.append(field_error([field], Text("is required: goods lines {lines} need inspection or quarantine",
                                                    lines=names)))
        elif isinstance(code, str) and (field,) not in bad:
            wanted[agency] = code.strip()
    found = find_offices(ctx, {AGENCY_KIND[agency]: code for agency, code in wanted.items()})
    for agency, code in wanted.items():
        offices[agency] = found.get(AGENCY_KIND[agency])
        if offices[agency] is None:
            errors.append(field_error([f"{agency}_office"], Text(
                "no {agency} office {code} is registered on this platform", agency=AGENCY_NAMES[agency], code=code)))
    return errors


def validate(ctx: Context, raw: Any, *, loc_prefix: tuple[Any, ...] = ()) -> tuple[FilingEntry, dict[str, Part],
                                                                                   dict[str, Any]]:
    """The entry, its parts and their offices; one 422 naming every bad field otherwise."""
    entry, parts, lines, errors = _parse(ctx, raw)
    return entry, parts, _route(ctx, raw, entry, lines, errors, loc_prefix)


def _parse(ctx: Context, raw: Any) -> tuple[FilingEntry | None, dict[str, Part], dict[int, Any], list[dict]]:
    """The entry, its parts (none while it has errors), its goods lines that need inspection or quarantine
    (index → catalogue entry; found in the entry as entered while it has errors) and its errors; no database
    work."""
    entry, errors = parse_entry(raw)
    if entry is None:
        return None, {}, _catalogued_lines(ctx, raw) if isinstance(raw, dict) else {}, errors
    lines = inspection_lines(entry, catalogue(ctx))
    return entry, split(entry, catalogue(ctx), lines), lines, errors


def _route(ctx: Context, raw: Any, entry: FilingEntry | None, lines: dict[int, Any], errors: list[dict],
           loc_prefix: tuple[Any, ...]) -> dict[str, Any]:
    """The parts' offices (agency → office id), looked up; one 422 with ``errors`` and any office's otherwise."""
    offices: dict[str, Any] = {}
    if isinstance(raw, dict):
        errors = errors + _routing_errors(ctx, raw, lines, {tuple(e["loc"]) for e in errors}, offices)
    if errors or entry is None:
        raise ValidationFailed([{**e, "loc": [*loc_prefix, *e["loc"]]} for e in errors])
    return offices


def create_filing(ctx: Context, raw: Any) -> Filing:
    """Stage a new filing and its draft declarations from the one-time entry.

    The rows are built from the entry before the offices are looked up (the
    unit of work's first read, which on SQLite takes the write lock), then
    written with plain inserts, not the ORM's unit of work; the returned
    filing and its declarations are in the session as stored.
    """
    actor = ctx.as_actor()
    actor.require(Permission.filing_create)
    entry, parts, lines, errors = _parse(ctx, raw)
    filing = _new_filing(ctx, entry, parts) if entry is not None else None
    offices = _route(ctx, raw, entry, lines, errors, ())  # 422 when the entry has errors: ``filing`` is set past here
    for declaration in filing.declarations:
        declaration.organisation_id = offices[declaration.agency]
    rows.insert_new(ctx.session, [filing])
    rows.insert_new(ctx.session, filing.declarations)
    rows.insert(ctx.session, FilingVersion, [dict(filing_id=filing.id, version=1, data=filing.data,
                                                  changed_fields=sorted(filing.data), created_by=actor.user_id,
                                                  created_at=filing.created_at)])
    rows.place(ctx.session, filing, *filing.declarations)  # as stored: the filing holds nothing else
    record_event(ctx, "filing.created", subject_type="filing", subject_id=filing.id, filing_id=filing.id,
                 recipients=[actor.org_id], data=filing_event_data(filing))
    return filing


def _new_filing(ctx: Context, entry: FilingEntry, parts: dict[str, Part]) -> Filing:
    """A new draft filing of the caller with a draft declaration per part (offices not yet set), unwritten.

    The objects hold their values as :func:`rows.place` then puts them in the session (built without change
    tracking, which they do not need: they are written with plain inserts)."""
    actor, now = ctx.as_actor(), ctx.now()
    data = entry.model_dump(mode="json", exclude_none=True)
    filing = rows.loaded(Filing, id=uuid.uuid4(), enterprise_id=actor.org_id, created_by=actor.user_id,
                         status=FilingStatus.draft.value, version=1, direction=entry.direction, port=entry.port,
                         bill_of_lading=entry.bill_of_lading, data=data, created_at=now, updated_at=now)
    declarations = [rows.loaded(Declaration, **_declaration_values(filing, part, None, now), filing=filing)
                    for part in sorted(parts.values(), key=lambda p: p.agency)]
    set_committed_value(filing, "declarations", declarations)
    return filing


def _new_declaration(ctx: Context, filing: Filing, part: Part, office_id: uuid.UUID | None) -> Declaration:
    return Declaration(**_declaration_values(filing, part, office_id, ctx.now()))


def _declaration_values(filing: Filing, part: Part, office_id: uuid.UUID | None, now) -> dict[str, Any]:
    """Every column of a new draft declaration of ``part``."""
    return dict(id=uuid.uuid4(), filing_id=filing.id, agency=part.agency, organisation_id=office_id,
                office_code=part.office_code, status=DeclarationStatus.draft.value, version=1, number=None,
                data=part.data, submitted_at=None, decided_at=None, reject_reason=None, created_at=now,
                updated_at=now)


def filing_event_data(filing: Filing) -> dict[str, Any]:
    return {"filing_id": str(filing.id), "status": filing.status, "version": filing.version,
            "bill_of_lading": filing.bill_of_lading, "direction": filing.direction, "port": filing.port}


def declaration_event_data(d: Declaration) -> dict[str, Any]:
    return {"declaration_id": str(d.id), "filing_id": str(d.filing_id), "agency": d.agency,
            "office": d.office_code, "status": d.status, "number": d.number, "version": d.version}


def reconcile_drafts(ctx: Context, filing: Filing, parts: dict[str, Part], offices: dict[str, Any]) -> None:
    """Bring the staged declarations in line with the filing's parts, then refresh the filing's status.

    A staged declaration (draft, or rejected and awaiting correction) takes its
    part's new data and office; when its part is no longer made, a draft is
    discarded and a rejected declaration withdrawn (its office sees that); a
    part with no declaration gets a new draft. Filed declarations are never
    touched here (they change by amendment).
    """
    existing = {d.agency: d for d in active_declarations(filing)}
    for agency, declaration in existing.items():
        if declaration.status not in STAGED_STATUSES:
            continue
        if agency in parts:
            declaration.data = parts[agency].data
            declaration.office_code = parts[agency].office_code
            declaration.organisation_id = offices[agency]
            declaration.updated_at = ctx.now()
        elif declaration.status == DeclarationStatus.draft.value:
            filing.declarations.remove(declaration)
            _declaration_event(ctx, filing, declaration, "declaration.discarded")
        else:
            declaration.status = DeclarationStatus.withdrawn.value
            declaration.updated_at = ctx.now()
            record_event(ctx, "declaration.withdrawn", subject_type="declaration", subject_id=declaration.id,
                         filing_id=filing.id, recipients=[filing.enterprise_id, declaration.organisation_id],
                         data=declaration_event_data(declaration))
    for agency, part in parts.items():
        if agency not in existing:
            declaration = _new_declaration(ctx, filing, part, offices[agency])
            filing.declarations.append(declaration)
            _declaration_event(ctx, filing, declaration, "declaration.staged")
    refresh_status(filing)


def _declaration_event(ctx: Context, filing: Filing, declaration: Declaration, type_: str) -> None:
    """An event about a staged declaration: only the enterprise sees it."""
    record_event(ctx, type_, subject_type="declaration", subject_id=declaration.id, filing_id=filing.id,
                 recipients=[filing.enterprise_id], data=declaration_event_data(declaration))


def active_declarations(filing: Filing) -> list[Declaration]:
    """The filing's declarations but withdrawn ones (which stay on record for their office)."""
    return [d for d in filing.declarations if d.status != DeclarationStatus.withdrawn.value]


def refresh_status(filing: Filing) -> None:
    """``filed`` once no declaration is staged (draft or rejected), ``draft`` otherwise."""
    filing.status = filing_status(filing)


def filing_status(filing: Filing) -> str:
    """What :func:`refresh_status` would set."""
    staged = any(d.status in STAGED_STATUSES for d in filing.declarations)
    return (FilingStatus.draft if staged else FilingStatus.filed).value


def _filed_conflicts(filing: Filing, changed: set[str]) -> dict[str, list[str]]:
    """Each changed field carried by a declaration already filed: the agencies of those declarations."""
    filed = {d.agency for d in active_declarations(filing) if d.status not in STAGED_STATUSES}
    return {field: sorted(owners(field) & filed) for field in sorted(changed) if owners(field) & filed}


def update_filing(ctx: Context, filing_id: str, patch: Any, *, expected_version: int | None = None) -> Filing:
    """Edit a staged filing (merge patch of top-level fields; ``null`` removes an optional field).

    409 once every declaration is filed, when ``expected_version`` is stale, or
    when a changed field belongs to a declaration already filed (amend that
    declaration instead; the error's details name each such field). A patch that changes nothing makes no new version.
    """
    actor = ctx.as_actor()
    filing = repository.get_filing(ctx, filing_id, for_update=True)
    actor.require(Permission.filing_update)
    if not isinstance(patch, dict) or not patch:
        raise ValidationFailed([field_error([], Text("the patch must be a non-empty JSON object of entry fields"))])
    if filing.status == FilingStatus.filed.value:
        raise Conflict(Text("every declaration of this filing is filed; amend a declaration instead"), code="filed")
    if expected_version is not None and expected_version != filing.version:
        raise Conflict(Text("the filing is at version {version}, not {expected}", version=filing.version,
                            expected=expected_version), code="version_conflict")
    merged = {k: v for k, v in {**filing.data, **patch}.items() if v is not None}
    entry, parts, offices = validate(ctx, merged)
    data = entry.model_dump(mode="json", exclude_none=True)
    changed = {k for k in set(data) | set(filing.data) if data.get(k) != filing.data.get(k)}
    if not changed:
        return filing
    if conflicts := _filed_conflicts(filing, changed):
        raise Conflict(Text("these fields belong to a declaration already filed; amend it instead: {fields}",
                            fields="; ".join(f"{f} ({', '.join(a)})" for f, a in conflicts.items())),
                       code="field_filed",
                       details=[field_error([f], Text("belongs to the {agencies} declaration, already filed: amend it "
                                                      "instead", agencies=joined([AGENCY_NAMES[x] for x in a], ", ")))
                                for f, a in conflicts.items()])
    apply_new_version(ctx, filing, data, changed)
    reconcile_drafts(ctx, filing, parts, offices)
    record_event(ctx, "filing.updated", subject_type="filing", subject_id=filing.id, filing_id=filing.id,
                 recipients=[filing.enterprise_id], data={**filing_event_data(filing), "changed": sorted(changed)})
    return filing


def apply_new_version(ctx: Context, filing: Filing, data: dict[str, Any], changed: set[str]) -> None:
    """Make ``data`` the filing's current data as a new kept version."""
    filing.data = data
    filing.version += 1
    filing.port = data["port"]
    filing.bill_of_lading = data["bill_of_lading"]
    filing.direction = data["direction"]
    filing.updated_at = ctx.now()
    ctx.session.add(FilingVersion(filing_id=filing.id, version=filing.version, data=data,
                                  changed_fields=sorted(changed), created_by=ctx.as_actor().user_id,
                                  created_at=ctx.now()))


def _to_file(filing: Filing, agencies: list[str] | None) -> list[Declaration]:
    by_agency = {d.agency: d for d in active_declarations(filing)}
    if agencies is None:
        staged = [d for d in filing.declarations if d.status in STAGED_STATUSES]
        if not staged:
            raise Conflict(Text("no declaration of this filing is staged"), code="nothing_staged")
        return staged
    errors = [field_error(["agencies", i], Text("this filing has no {agency} declaration",
                                                agency=AGENCY_NAMES.get(a, a)))
              for i, a in enumerate(agencies) if a not in by_agency]
    if errors or not agencies:
        raise ValidationFailed(errors or [field_error(["agencies"], Text("name at least one agency"))])
    filed = sorted({a for a in agencies if by_agency[a].status not in STAGED_STATUSES})
    if filed:
        raise Conflict(Text("already filed: {agencies}", agencies=", ".join(filed)), code="already_filed")
    return [by_agency[a] for a in dict.fromkeys(agencies)]


def submit_filing(ctx: Context, filing_id: str, agencies: list[str] | None = None) -> Filing:
    """File the named staged declarations (all staged ones when ``agencies`` is None).

    A rejected declaration, corrected through the filing, is filed again as
    its next version and goes back to its office's queue.
    """
    actor = ctx.as_actor()
    filing = repository.get_filing(ctx, filing_id, for_update=True)
    actor.require(Permission.filing_submit)
    now = ctx.now()
    to_file = _to_file(filing, agencies)
    if any(d.status == DeclarationStatus.rejected.value for d in to_file):
        for declaration in to_file:  # filed again: the next version, the earlier answer cleared
            if declaration.status == DeclarationStatus.rejected.value:
                declaration.version += 1
                declaration.decided_at = declaration.reject_reason = None
        ctx.session.flush()
    drafts = [d for d in to_file if d.status == DeclarationStatus.draft.value]
    rows.update(ctx.session, to_file, status=DeclarationStatus.submitted.value, submitted_at=now, updated_at=now)
    rows.insert(ctx.session, DeclarationVersion, [
        dict(declaration_id=d.id, version=d.version, data=d.data, changes={}, reason=None,
             author_organisation_id=actor.org_id, author_user_id=actor.user_id, created_at=now) for d in to_file])
    # A draft has never covered a container (nothing to replace); one filed before replaces what it covered.
    rows.insert(ctx.session, DeclarationContainer, [dict(declaration_id=d.id, number=n)
                                                    for d in drafts for n in declaration_numbers(d)])
    for declaration in to_file:
        if declaration not in drafts:
            sync_declaration_containers(ctx, declaration)
        record_event(ctx, "declaration.submitted", subject_type="declaration", subject_id=declaration.id,
                     filing_id=filing.id, recipients=[filing.enterprise_id, declaration.organisation_id],
                     data=declaration_event_data(declaration))
    rows.update(ctx.session, [filing], status=filing_status(filing), updated_at=now)
    return filing


def list_filings(ctx: Context, *, status: str | None = None, limit: int = 50, offset: int = 0) -> tuple[
        list[Filing], int]:
    """The actor's filings, newest first, and how many there are in all."""
    ctx.as_actor().require(Permission.filing_read)
    query = repository.filings_visible_to(ctx.as_actor())
    if status:
        query = query.where(Filing.status == status)
    total = ctx.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = ctx.session.scalars(query.order_by(Filing.created_at.desc(), Filing.id).limit(limit).offset(offset))
    return list(rows), total or 0


def get_filing(ctx: Context, filing_id: str) -> Filing:
    filing = repository.get_filing(ctx, filing_id)
    ctx.as_actor().require(Permission.filing_read)
    return filing


def filing_versions(ctx: Context, filing_id: str) -> list[FilingVersion]:
    filing = get_filing(ctx, filing_id)
    return list(ctx.session.scalars(select(FilingVersion).where(FilingVersion.filing_id == filing.id)
                                    .order_by(FilingVersion.version)))
