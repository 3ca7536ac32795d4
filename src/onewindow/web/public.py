"""The public status query (通关状态查询): anyone, without signing in, by declaration number.

It answers only the agency, the status and the dates of filing, acceptance,
release and whether the goods have left: nothing about the parties, goods,
values or inspections (those stay with the parties of the consignment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response
from sqlalchemy import func, select

from onewindow.context import Context
from onewindow.models import ContainerVisit, Declaration, DeclarationContainer, Release
from onewindow.web.labels import N_
from onewindow.web.page import AsPage
from onewindow.web.routing import page_router

router = page_router()
NUMBER = re.compile(r"^(\d{18}|\d{15})$")  # customs: 18 digits; CIQ: 15 digits


@dataclass(frozen=True)
class PublicStatus:
    """What the public may know of a declaration."""

    number: str
    agency: str
    status: str
    filed_at: datetime | None
    accepted_at: datetime | None
    released_at: datetime | None
    gated_out_at: datetime | None


def public_status(ctx: Context, number: str) -> PublicStatus | None:
    """The status of the accepted declaration numbered ``number`` (None when there is none)."""
    d = ctx.session.scalar(select(Declaration).where(Declaration.number == number))
    if d is None:
        return None
    released = ctx.session.scalar(select(func.max(Release.released_at)).where(
        Release.declaration_id == d.id, Release.revoked_at.is_(None)))
    gated = None
    if released is not None:
        gated = ctx.session.scalar(select(func.max(ContainerVisit.gated_out_at)).where(
            ContainerVisit.number.in_(select(DeclarationContainer.number).where(
                DeclarationContainer.declaration_id == d.id)),
            ContainerVisit.gated_out_at >= d.submitted_at))
    return PublicStatus(number=number, agency=d.agency, status=d.status, filed_at=d.submitted_at,
                        accepted_at=d.decided_at, released_at=released, gated_out_at=gated)


@router.get("/status", name="public_status")
async def status_query(page: AsPage, number: Annotated[str, Query(max_length=40)] = "") -> Response:
    """The query form, and the answer when a number is given (400 for a malformed number, 404 unknown)."""
    number = re.sub(r"\s+", "", number)
    if not number:
        await page.run_optional(lambda ctx: None)
        return page.render("public/status.html", {"number": "", "result": None, "problem": None})
    if not NUMBER.fullmatch(number):
        await page.run_optional(lambda ctx: None)
        return page.render("public/status.html", {"number": number, "result": None, "problem": MALFORMED},
                           status=400)
    result = await page.run_optional(lambda ctx: public_status(ctx, number))
    return page.render("public/status.html", {"number": number, "result": result,
                                              "problem": None if result else UNKNOWN},
                       status=200 if result else 404)


MALFORMED = N_("A declaration number has 18 digits (customs) or 15 digits (inspection and quarantine).")
UNKNOWN = N_("No declaration with this number has been accepted.")
