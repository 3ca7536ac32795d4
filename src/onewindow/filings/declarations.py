"""The agencies' side of one declaration: queues, receipts (受理/退单) and amendments (变更通报)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from onewindow.context import Context
from onewindow.errors import Conflict, Text, ValidationFailed, field_error, text_errors
from onewindow.events.service import record_event
from onewindow import rows
from onewindow.filings import repository
from onewindow.filings.numbering import issue_number
from onewindow.filings.schemas import REASON_MOST
from onewindow.filings.service import (
    AGENCY_NAMES, STATUS_NAMES, apply_new_version, catalogue, declaration_event_data, reconcile_drafts,
    refresh_status, validate,
)
from onewindow.filings.split import OFFICE_FIELD, PARTS, as_entry_fields, part_for
from onewindow.inspections.service import match_containers
from onewindow.inspections.visits import (
    FilingPlace, declaration_numbers, departed, open_visits, sync_declaration_containers,
)
from onewindow.models import (
    STAGED_STATUSES, DecisionStatus, Declaration, DeclarationStatus, DeclarationVersion, Filing,
    InspectionDecision, Notice,
)
from onewindow.parties.permissions import Permission
from onewindow.releases.service import recheck_containers
from onewindow.sql import ROW_LOCK

AMENDABLE = frozenset({DeclarationStatus.submitted.value, DeclarationStatus.accepted.value})
INACTIVE = STAGED_STATUSES | {DeclarationStatus.withdrawn.value}


def list_declarations(ctx: Context, *, status: str | None = None, limit: int = 50,
                      offset: int = 0) -> list[Declaration]:
    """The actor's queue: declarations routed to its office (or of its filings), oldest filed first."""
    ctx.as_actor().require(Permission.declaration_read)
    query = repository.declarations_visible_to(ctx.as_actor())
    if status:
        query = query.where(Declaration.status == status)
    query = query.order_by(Declaration.submitted_at.is_(None), Declaration.submitted_at, Declaration.id)
    return list(ctx.session.scalars(query.limit(limit).offset(offset)))


def get_declaration(ctx: Context, declaration_id: str) -> Declaration:
    declaration = repository.get_declaration(ctx, declaration_id)
    ctx.as_actor().require(Permission.declaration_read)
    return declaration


def _for_review(ctx: Context, declaration_id: str, *, changes_filing: bool = False) -> Declaration:
    """The submitted declaration routed to the actor's office, locked (409 otherwise). ``changes_filing``: the
    answer changes the filing too, which is then locked first (:func:`_with_filing_locked`)."""
    actor = ctx.as_actor()
    if changes_filing:
        declaration, _ = _with_filing_locked(ctx, declaration_id)
    else:
        declaration = repository.get_declaration(ctx, declaration_id, for_update=True, with_filing=True)
    actor.require(Permission.declaration_review)
    if declaration.organisation_id != actor.org_id:
        raise Conflict(Text("only the office the declaration is routed to may answer it"), code="not_routed_here")
    if declaration.status != DeclarationStatus.submitted.value:
        raise Conflict(Text("the declaration is {status}; only a submitted one can be answered",
                            status=STATUS_NAMES.get(declaration.status, declaration.status)), code="not_submitted")
    return declaration


def _with_filing_locked(ctx: Context, declaration_id: str) -> tuple[Declaration, Filing]:
    """The declaration (404 unless the actor may see it) and its filing, both locked and read after their
    locks, the filing first: the order in which every change to a filing and its declarations takes them
    (an edit, a submit, an amendment, a rejection), so that no two such requests wait for each other's."""
    declaration = repository.get_declaration(ctx, declaration_id)
    filing = repository.get_filing_unscoped(ctx, declaration.filing_id, for_update=True)
    ctx.session.refresh(declaration, with_for_update=ROW_LOCK)
    return declaration, filing


def _receipt_event(ctx: Context, declaration: Declaration, type_: str, **extra: Any) -> None:
    filing = declaration.filing
    record_event(ctx, type_, subject_type="declaration", subject_id=declaration.id, filing_id=filing.id,
                 recipients=[filing.enterprise_id, declaration.organisation_id],
                 data={**declaration_event_data(declaration), **extra})


def accept(ctx: Context, declaration_id: str) -> Declaration:
    """Accept (受理) a submitted declaration: it gets the office's next receipt number."""
    declaration = _for_review(ctx, declaration_id)
    now = ctx.now()
    number = issue_number(ctx, declaration.agency, declaration.office_code, declaration.filing.direction, now)
    rows.update(ctx.session, [declaration], number=number, status=DeclarationStatus.accepted.value,
                decided_at=now, updated_at=now)
    _receipt_event(ctx, declaration, "declaration.accepted")
    # its containers already released wait for this agency too (their visits locked, made if missing, so a
    # release deciding them at the same moment waits for this transaction); an acceptance releases nothing.
    # Containers that have left the port since the filing are gone: nothing of theirs changes.
    visits = open_visits(ctx, declaration_numbers(declaration), filing=FilingPlace.of(declaration.filing))
    if any(visit.released_at is not None for visit in visits.values()):
        recheck_containers(ctx, visits, reason=f"a {declaration.agency} declaration now covers it")
    return declaration


def reject(ctx: Context, declaration_id: str, reason: str) -> Declaration:
    """Reject (退单) a submitted declaration with a reason the enterprise sees.

    The declaration goes back to the enterprise: it corrects the filing and
    submits that declaration again (the filing is ``draft`` meanwhile). 422 naming ``reason`` when it is
    blank, longer than :data:`~onewindow.filings.schemas.REASON_MOST` characters once stripped, or holds a NUL
    character; nothing is stored then.
    """
    if not reason or not reason.strip():
        raise ValidationFailed([field_error(["reason"], Text("a rejection needs a reason"))])
    if errors := text_errors(["reason"], reason.strip(), REASON_MOST):
        raise ValidationFailed(errors)
    declaration = _for_review(ctx, declaration_id, changes_filing=True)
    declaration.status = DeclarationStatus.rejected.value
    declaration.reject_reason = reason.strip()
    declaration.decided_at = declaration.updated_at = ctx.now()
    refresh_status(declaration.filing)
    _receipt_event(ctx, declaration, "declaration.rejected", reason=declaration.reject_reason)
    return declaration


IMMUTABLE_AFTER_FILING = ("direction", "port")
"""Fields a filed declaration keeps: an import does not become an export, nor goods declared at one port
another port's (whose containers, releases and inspections are another's)."""


def _change_errors(declaration: Declaration, changes: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    """What is wrong with an amendment before its entry is validated: a reason is needed, of at most
    :data:`~onewindow.filings.schemas.REASON_MOST` characters and no NUL character; only fields this
    declaration carries, plus the office of an agency with no filed declaration yet (an amendment that adds
    goods needing another agency names where that new declaration goes)."""
    errors = (text_errors(["reason"], reason, REASON_MOST) if reason and reason.strip()
              else [field_error(["reason"], Text("give the reason for the amendment"))])
    filed = {d.agency for d in declaration.filing.declarations if d.status not in INACTIVE}
    routing = {field for agency, field in OFFICE_FIELD.items() if agency not in filed}
    fields = PARTS[declaration.agency] | routing
    errors += [field_error(["changes", key], Text("is not a field of the {agency} declaration",
                                                  agency=AGENCY_NAMES.get(declaration.agency, declaration.agency)))
               for key in changes if key not in fields]
    office = OFFICE_FIELD[declaration.agency]
    if office in changes and changes[office] != declaration.office_code:
        errors.append(field_error(["changes", office], Text("a filed declaration cannot move to another office")))
    errors += [field_error(["changes", key], Text("cannot change once the declaration is filed"))
               for key in IMMUTABLE_AFTER_FILING
               if key in changes and _as_typed(changes[key]) != declaration.data.get(key)]
    return errors


def _as_typed(value: Any) -> Any:
    """A changed value as the entry keeps it when it is a code: surrounding spaces removed."""
    return value.strip() if isinstance(value, str) else value


def _validated_amendment(ctx: Context, filing: Filing, declaration: Declaration, changes: dict[str, Any],
                         reason: str) -> tuple[Any, Any, Any]:
    """The amended entry validated as a whole (:func:`validate`'s answer), or :class:`ValidationFailed`
    naming every bad field at once: the reason, the changes refused as such, and the entry's own errors
    with the other changes applied."""
    errors = _change_errors(declaration, changes, reason)
    refused = {tuple(e["loc"]) for e in errors}
    view = {**_entry_view(filing, declaration),
            **{k: v for k, v in changes.items() if ("changes", k) not in refused}}
    try:
        validated = validate(ctx, {k: v for k, v in view.items() if v is not None}, loc_prefix=("changes",))
    except ValidationFailed as failed:
        raise ValidationFailed(errors + failed.details) from None
    if errors:
        raise ValidationFailed(errors)
    return validated


def amend(ctx: Context, declaration_id: str, changes: dict[str, Any], reason: str, *,
          expected_version: int | None = None) -> Declaration:
    """Amend a filed declaration, by its enterprise or its agency; the filing's other agencies are told.

    ``expected_version``: the declaration's version the changes were made against; 409 ``version_conflict``
    (nothing changed) when it has been amended since, so that an amendment never undoes another one it did
    not see.

    The change applies to this declaration's own data (what its agency
    received, not what the others were told since); the whole is validated as
    an entry (422 names each bad field under ``changes``). The declaration
    and the filing each get a new kept version; staged declarations of the
    filing follow (422 names every bad field at once: a blank reason or one too long, changes this declaration
    may not take, the entry's own); every other filed declaration carrying a changed field gets
    a :class:`Notice`, and ``declaration.amended`` goes to all of them. When an accepted declaration comes to
    cover other containers, their combined release is decided again, and decisions waiting on them are matched
    if they no longer wait for anyone.
    """
    actor = ctx.as_actor()
    declaration, filing = _with_filing_locked(ctx, declaration_id)
    actor.require(Permission.declaration_amend)
    _check_amendable(declaration)
    if expected_version is not None and expected_version != declaration.version:
        raise Conflict(Text("the declaration is at version {version}, not {expected}", version=declaration.version,
                            expected=expected_version), code="version_conflict")
    covered = set(declaration_numbers(declaration))
    entry, parts, offices = _validated_amendment(ctx, filing, declaration, changes, reason)
    new = part_for(entry, declaration.agency, catalogue(ctx)).data
    changed = {k for k in set(new) | set(declaration.data) if new.get(k) != declaration.data.get(k)}
    if not changed:
        raise Conflict(Text("the changes leave the declaration as it is"), code="no_change")
    numbers = {c["number"] for c in new.get("containers", [])}
    _keep_containers_named_for_inspection(ctx, declaration, covered - numbers)
    _add_no_departed_container(ctx, filing, numbers - covered)
    entry_data = entry.model_dump(mode="json", exclude_none=True)
    filing_data = {k: v for k, v in {**filing.data, **{k: entry_data.get(k) for k in changed | set(changes)}}.items()
                   if v is not None}
    apply_new_version(ctx, filing, filing_data, changed)
    reconcile_drafts(ctx, filing, *_filing_parts(ctx, filing_data, entry_data, parts, offices))
    _new_declaration_version(ctx, declaration, new, changes, reason)
    sync_declaration_containers(ctx, declaration)
    if declaration.status == DeclarationStatus.accepted.value and (moved := covered ^ numbers):
        # of the containers at the port: one it now covers waits for it; one it no longer covers may now be
        # released by the others, and other agencies' decisions on it may have waited only for this one
        visits = open_visits(ctx, moved)
        recheck_containers(ctx, visits, reason=f"the {declaration.agency} declaration was amended")
        if dropped := {n: v for n, v in visits.items() if n in covered}:
            # from the containers it still covers too: its own decision may have waited only on those dropped
            match_containers(ctx, [*dropped, *sorted(numbers - set(dropped))], locked=dropped)
    others = _notify_others(ctx, filing, declaration, changed, reason)
    record_event(ctx, "declaration.amended", subject_type="declaration", subject_id=declaration.id,
                 filing_id=filing.id,
                 recipients=[filing.enterprise_id, declaration.organisation_id, *(o.organisation_id for o in others)],
                 data={**declaration_event_data(declaration), "changed": sorted(changed), "reason": reason,
                       "by": actor.kind.value})
    return declaration


def _keep_containers_named_for_inspection(ctx: Context, declaration: Declaration, dropped: set[str]) -> None:
    """409 when an amendment takes out of the declaration containers its decision to inspect, not matched yet,
    names: the decision stands as made (one per declaration), so the containers stay until the match (after
    it the declaration is ``inspecting``, and not amendable)."""
    if not dropped:
        return
    for containers in ctx.session.scalars(select(InspectionDecision.containers).where(
            InspectionDecision.declaration_id == declaration.id,
            InspectionDecision.status == DecisionStatus.pending.value)):
        if named := sorted(dropped.intersection(containers)):
            raise Conflict(Text("{containers}: named in the decision to inspect, not matched yet; a container to be "
                                "inspected stays in the declaration", containers=", ".join(named)),
                           code="named_for_inspection")


def _add_no_departed_container(ctx: Context, filing: Filing, added: set[str]) -> None:
    """409 when an amendment adds containers that have left the port since the consignment was filed (and have
    not come back): they can no longer be inspected or released there."""
    if not added:
        return
    if gone := departed(ctx, added, FilingPlace.of(filing)):
        raise Conflict(Text("{containers}: left the port after the consignment was filed",
                            containers=", ".join(sorted(gone))), code="gated_out")


def _filing_parts(ctx: Context, filing_data: dict[str, Any], entry_data: dict[str, Any], parts: dict,
                  offices: dict) -> tuple[dict, dict]:
    """The parts (and their offices) the filing's staged declarations follow after an amendment: those of the
    filing's new data, as an edit of the staged filing makes them (a rejected declaration keeps what it was
    amended with before, a part comes or goes with the filing's goods). ``parts`` and ``offices``, those of
    the amended declaration's entry (``entry_data``), when the filing's data is that entry (the usual case,
    validated once), or when, mixed from declarations amended apart, it does not form a valid entry."""
    if filing_data == entry_data:
        return parts, offices
    try:
        _, filing_parts, filing_offices = validate(ctx, filing_data)
    except ValidationFailed:
        return parts, offices
    return filing_parts, filing_offices


def _entry_view(filing: Filing, declaration: Declaration) -> dict[str, Any]:
    """The entry as this declaration's agency received it: every field it carries from its own data (one
    it was filed without stays absent, whatever another declaration's amendment added to the filing since),
    the others from the filing."""
    carried = PARTS[declaration.agency]
    return {**{k: v for k, v in filing.data.items() if k not in carried},
            **as_entry_fields(declaration.agency, declaration.data)}


def _check_amendable(declaration: Declaration) -> None:
    if declaration.status in AMENDABLE:
        return
    status = STATUS_NAMES.get(declaration.status, declaration.status)
    if declaration.status == DeclarationStatus.draft.value:
        message = Text("a {status} declaration cannot be amended; edit the staged filing instead", status=status)
    elif declaration.status == DeclarationStatus.rejected.value:
        message = Text("a {status} declaration cannot be amended; correct the filing and submit it again",
                       status=status)
    else:
        message = Text("a {status} declaration cannot be amended", status=status)
    raise Conflict(message, code="not_amendable")


def _notify_others(ctx: Context, filing, declaration: Declaration, changed: set[str],
                   reason: str) -> list[Declaration]:
    """Leave a notice on every other filed declaration that carries a changed field; return them."""
    notified = []
    for other in filing.declarations:
        fields = changed & PARTS[other.agency]
        if other.id == declaration.id or other.status in INACTIVE or not fields:
            continue
        ctx.session.add(Notice(declaration_id=other.id, source_declaration_id=declaration.id,
                               source_agency=declaration.agency, source_version=declaration.version,
                               changed_fields=sorted(fields), reason=reason,
                               author_organisation_id=ctx.as_actor().org_id, created_at=ctx.now()))
        notified.append(other)
    return notified


def _new_declaration_version(ctx: Context, declaration: Declaration, data: dict[str, Any],
                             changes: dict[str, Any], reason: str) -> None:
    actor = ctx.as_actor()
    declaration.data = data
    declaration.version += 1
    declaration.updated_at = ctx.now()
    ctx.session.add(DeclarationVersion(declaration_id=declaration.id, version=declaration.version,
                                       data=declaration.data, changes=changes, reason=reason,
                                       author_organisation_id=actor.org_id, author_user_id=actor.user_id,
                                       created_at=ctx.now()))


def declaration_versions(ctx: Context, declaration_id: str) -> list[DeclarationVersion]:
    declaration = get_declaration(ctx, declaration_id)
    return list(ctx.session.scalars(select(DeclarationVersion)
                                    .where(DeclarationVersion.declaration_id == declaration.id)
                                    .order_by(DeclarationVersion.version)))
