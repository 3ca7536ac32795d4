"""The public status query (通关状态查询): anyone, without signing in, by declaration number.

It answers only the agency, the status and the dates of filing, acceptance, release and gate-out: nothing
about the parties, goods, values or inspections (those stay with the parties of the consignment). The API
(``GET /api/v1/public/status``) and the page (``/status``) both answer from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from onewindow.context import Context
from onewindow.errors import NotFound, Text, ValidationFailed, field_error
from onewindow.models import ContainerVisit, Declaration, DeclarationContainer, Release

NUMBER = re.compile(r"^(\d{18}|\d{15})$")
"""A receipt number: customs 18 digits, CIQ 15 digits."""
MALFORMED = "a declaration number has 18 digits (customs) or 15 digits (inspection and quarantine)"


@dataclass(frozen=True)
class PublicStatus:
    """What the public may know of a declaration (the API's answer as it is)."""

    number: str
    agency: str
    status: str
    filed_at: datetime | None
    accepted_at: datetime | None
    released_at: datetime | None
    gated_out_at: datetime | None


def normalised_number(raw: str) -> str:
    """``raw`` without its blanks (people paste numbers with spaces); empty when nothing was given."""
    return re.sub(r"\s+", "", raw)


def well_formed(number: str) -> bool:
    """Whether ``number`` (normalised) has the form of a receipt number."""
    return NUMBER.fullmatch(number) is not None


def find_public_status(ctx: Context, number: str) -> PublicStatus | None:
    """The public status of the accepted declaration numbered ``number`` (None when there is none)."""
    d = ctx.session.scalar(select(Declaration).where(Declaration.number == number))
    if d is None:
        return None
    released = ctx.session.scalar(select(func.max(Release.released_at)).where(
        Release.declaration_id == d.id, Release.revoked_at.is_(None)))
    gated = None
    if released is not None:
        first = (select(func.min(ContainerVisit.gated_out_at).label("at")).where(
            ContainerVisit.number.in_(select(DeclarationContainer.number).where(
                DeclarationContainer.declaration_id == d.id)),
            ContainerVisit.gated_out_at >= d.submitted_at).group_by(ContainerVisit.number).subquery())
        gated = ctx.session.scalar(select(func.max(first.c.at)))  # the last container's first gate-out
    return PublicStatus(number=number, agency=d.agency, status=d.status, filed_at=d.submitted_at,
                        accepted_at=d.decided_at, released_at=released, gated_out_at=gated)


def checked_number(raw: str) -> str:
    """``raw`` normalised (:func:`normalised_number`); :class:`ValidationFailed` naming ``query.number`` when it
    is empty or not 18 or 15 digits."""
    number = normalised_number(raw)
    if not well_formed(number):
        raise ValidationFailed([field_error(["query", "number"],
                                            MALFORMED if number else "give a declaration number")])
    return number


def public_status(ctx: Context, number: str) -> PublicStatus:
    """The public status of the accepted declaration numbered ``number`` (checked: :func:`checked_number`);
    :class:`NotFound` when no accepted declaration has that number."""
    found = find_public_status(ctx, number)
    if found is None:
        raise NotFound(Text("no accepted declaration has the number {number}", number=number))
    return found
