"""Container visits (a container's stay at the port) and which declarations cover a container."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import delete, select

from onewindow.context import Context
from onewindow.models import ContainerVisit, Declaration, DeclarationContainer, DeclarationStatus

COVERING = (DeclarationStatus.accepted.value, DeclarationStatus.inspecting.value, DeclarationStatus.released.value)
"""Statuses in which an agency's declaration counts for a container's inspection and release."""


def declaration_numbers(declaration: Declaration) -> list[str]:
    return sorted({c["number"] for c in declaration.data.get("containers", [])})


def sync_declaration_containers(ctx: Context, declaration: Declaration) -> None:
    """Record the containers a filed declaration covers (replacing what an earlier version covered)."""
    ctx.session.execute(delete(DeclarationContainer).where(DeclarationContainer.declaration_id == declaration.id))
    ctx.session.add_all(DeclarationContainer(declaration_id=declaration.id, number=n)
                        for n in declaration_numbers(declaration))


def open_visits(ctx: Context, numbers: Iterable[str], *, port: str | None = None,
                lock: bool = True) -> dict[str, ContainerVisit]:
    """The open visit of each container (created when missing), locked in number order when ``lock``.

    Locking the visits serialises everything that decides a container's fate
    (matching, releases, gate-out) without blocking other containers.
    """
    wanted = sorted(set(numbers))
    visits: dict[str, ContainerVisit] = {}
    for number in wanted:
        query = select(ContainerVisit).where(ContainerVisit.number == number, ContainerVisit.gated_out_at.is_(None))
        visit = ctx.session.scalar(query.with_for_update() if lock else query)
        if visit is None:
            visit = ContainerVisit(number=number, port=port, created_at=ctx.now())
            ctx.session.add(visit)
            ctx.session.flush()
        visits[number] = visit
    return visits


def coverage(ctx: Context, numbers: Iterable[str]) -> dict[str, dict[str, list[Declaration]]]:
    """Container → agency → its declarations in a covering status that cover the container."""
    numbers = sorted(set(numbers))
    found: dict[str, dict[str, list[Declaration]]] = defaultdict(lambda: defaultdict(list))
    if not numbers:
        return {}
    rows = ctx.session.execute(
        select(DeclarationContainer.number, Declaration)
        .join(Declaration, Declaration.id == DeclarationContainer.declaration_id)
        .where(DeclarationContainer.number.in_(numbers), Declaration.status.in_(COVERING)))
    for number, declaration in rows:
        found[number][declaration.agency].append(declaration)
    return {n: dict(by_agency) for n, by_agency in found.items()}


def reopen_released(ctx: Context, declaration: Declaration) -> None:
    """A newly accepted declaration covers containers already released: they are released no longer.

    The combined release waits for this agency too; ``container.release_revoked`` says so, and the
    agency's own release later publishes ``container.released`` again.
    """
    from onewindow.events.service import record_event
    from onewindow.models import Organisation, OrgKind

    filing = declaration.filing
    terminals = list(ctx.session.scalars(select(Organisation.id).where(
        Organisation.kind == OrgKind.terminal.value, Organisation.port == filing.port)))
    for visit in open_visits(ctx, declaration_numbers(declaration), port=filing.port).values():
        if visit.released_at is None:
            continue
        visit.released_at = None
        record_event(ctx, "container.release_revoked", subject_type="container", subject_id=visit.id,
                     filing_id=filing.id, recipients=[filing.enterprise_id, declaration.organisation_id, *terminals],
                     data={"container": visit.number, "port": visit.port, "agencies": [declaration.agency],
                           "reason": f"a {declaration.agency} declaration now covers it", "released_at": None})
