"""Turning filings and declarations into the contract's answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select

from onewindow.context import Context
from onewindow.inspections.stored import read
from onewindow.sql import Prepared
from onewindow.filings.schemas import (
    DeclarationOut,
    DeclarationSummary,
    DeclarationVersionOut,
    FilingDetail,
    FilingOut,
    FilingVersionOut,
    GateOutOut,
    NoticeOut,
    Receipt,
    ReleaseOut,
)
from onewindow.models import (
    ContainerVisit,
    Declaration,
    DeclarationStatus,
    DeclarationVersion,
    Filing,
    FilingVersion,
    Inspection,
    InspectionDeclaration,
    Notice,
    Release,
)


def receipt(d: Declaration) -> Receipt | None:
    if d.decided_at is None:
        return None
    if d.status == DeclarationStatus.rejected.value:
        return Receipt(outcome="rejected", reason=d.reject_reason, at=d.decided_at)
    return Receipt(outcome="accepted", number=d.number, at=d.decided_at)


def _summary_fields(d: Declaration) -> dict:
    return {"id": d.id, "agency": d.agency, "office": d.office_code, "status": d.status, "number": d.number,
            "version": d.version, "submitted_at": d.submitted_at, "receipt": receipt(d)}


def declaration_summary(d: Declaration) -> DeclarationSummary:
    return DeclarationSummary(**_summary_fields(d))


def _by_agency(declaration: Declaration) -> str:
    return declaration.agency


def filing_out(f: Filing) -> FilingOut:
    """The filing as the API answers it: its declarations by agency name (``ciq`` before ``customs``), however
    the session holds them (a CIQ draft an edit made comes last there)."""
    return FilingOut(id=f.id, status=f.status, version=f.version, direction=f.direction, port=f.port,
                     bill_of_lading=f.bill_of_lading, created_at=f.created_at, updated_at=f.updated_at,
                     declarations=[declaration_summary(d) for d in sorted(f.declarations, key=_by_agency)],
                     data=f.data)


def filing_detail(ctx: Context, f: Filing) -> FilingDetail:
    """The filing with its inspections, releases and gate-outs (one query each): a container's first gate-out
    since the filing was made, when its goods left; a later one is another consignment's."""
    from onewindow.inspections.presenters import inspection_out

    ids = [d.id for d in f.declarations]
    inspections = ctx.session.scalars(
        select(Inspection).where(Inspection.id.in_(select(InspectionDeclaration.inspection_id).where(
            InspectionDeclaration.declaration_id.in_(ids)))).order_by(Inspection.matched_at, Inspection.id))
    releases = ctx.session.scalars(select(Release).where(Release.declaration_id.in_(ids))
                                   .order_by(Release.released_at, Release.id))
    numbers = sorted({c["number"] for c in f.data.get("containers", [])})
    visits: dict[str, ContainerVisit] = {}  # each container's first gate-out since the filing: the goods leaving
    for visit in ctx.session.scalars(select(ContainerVisit).where(
            ContainerVisit.number.in_(numbers), ContainerVisit.gated_out_at >= f.created_at)
            .order_by(ContainerVisit.gated_out_at)):
        visits.setdefault(visit.number, visit)
    return FilingDetail(
        **filing_out(f).model_dump(),
        inspections=[inspection_out(ctx, i).model_dump(mode="json") for i in inspections],
        releases=[ReleaseOut(declaration_id=r.declaration_id, agency=r.agency, released_at=r.released_at,
                             revoked_at=r.revoked_at, revoke_reason=r.revoke_reason) for r in releases],
        gate_outs=[GateOutOut(container=v.number, gated_out_at=v.gated_out_at) for v in visits.values()])


_NOTICES = Prepared(select(Notice.id, Notice.source_declaration_id, Notice.source_agency, Notice.source_version,
                   Notice.changed_fields, Notice.reason, Notice.created_at)
            .where(Notice.declaration_id == bindparam("declaration_id"))
            # one source's amendments in their order even when made at one instant (a simulated clock's)
            .order_by(Notice.created_at, Notice.source_version, Notice.id))
_NOTICE_FIELDS = ("id", "source_declaration_id", "source_agency", "source_version", "changed_fields", "reason",
                  "created_at")


def declaration_out(ctx: Context, d: Declaration) -> DeclarationOut:
    """The declaration with its receipt and the notices left on it by amendments of the filing's other
    declarations (oldest first, one query of their columns)."""
    return declaration_answer(declaration_read(ctx, d))


DeclarationRead = tuple[Declaration, Sequence[tuple], str]
"""What :func:`declaration_out` needs of the database, read: the declaration, its notices' rows, the direction."""


def declaration_read(ctx: Context, d: Declaration) -> DeclarationRead:
    """Everything of :func:`declaration_out` that the database gives, read in the unit of work: the notices'
    rows (one query) and the direction (from the filing only if the declaration's data lacks it). The answer
    is then made from these by :func:`declaration_answer`, which reads nothing more: once the unit of work
    has ended (outside SQLite's write lock), as well as inside it."""
    rows = read(ctx.session, _NOTICES, {"declaration_id": d.id})
    direction = d.data["direction"] if "direction" in d.data else d.filing.direction  # the filing only if need be
    return d, rows, direction


def declaration_answer(found: DeclarationRead) -> DeclarationOut:
    """:func:`declaration_out` from what :func:`declaration_read` read (no database: the declaration's
    columns are loaded)."""
    d, rows, direction = found
    notices = [NoticeOut(**dict(zip(_NOTICE_FIELDS, row, strict=True))) for row in rows]
    return DeclarationOut(**_summary_fields(d), filing_id=d.filing_id, direction=direction, data=d.data,
                          notices=notices)


def filing_version_out(v: FilingVersion) -> FilingVersionOut:
    return FilingVersionOut(version=v.version, changed_fields=v.changed_fields, created_at=v.created_at, data=v.data)


def declaration_version_out(v: DeclarationVersion) -> DeclarationVersionOut:
    return DeclarationVersionOut(version=v.version, changes=v.changes, reason=v.reason,
                                 author_organisation_id=v.author_organisation_id, created_at=v.created_at,
                                 data=v.data)
