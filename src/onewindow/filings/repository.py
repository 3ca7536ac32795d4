"""Scoped queries: every fetch or list of filings and declarations goes through here.

A record the caller may not see is the same as a record that does not exist
(404). Enterprises see their own filings and their declarations; an agency
office sees the declarations routed to it once they are filed.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, bindparam, false, select
from sqlalchemy.orm import joinedload

from onewindow.context import Actor, Context
from onewindow.errors import NotFound, parse_id
from onewindow.models import AGENCY_KINDS, Declaration, DeclarationStatus, Filing, OrgKind


def filings_visible_to(actor: Actor) -> Select[tuple[Filing]]:
    query = select(Filing)
    if actor.kind is OrgKind.enterprise:
        return query.where(Filing.enterprise_id == actor.org_id)
    return query.where(false())


def declarations_visible_to(actor: Actor) -> Select[tuple[Declaration]]:
    query = select(Declaration)
    if actor.kind is OrgKind.enterprise:
        return query.join(Filing, Declaration.filing_id == Filing.id).where(Filing.enterprise_id == actor.org_id)
    if actor.kind in AGENCY_KINDS:
        return query.where(Declaration.organisation_id == actor.org_id,
                           Declaration.status != DeclarationStatus.draft.value)
    return query.where(false())


_ENTERPRISE_FILING = (select(Filing).where(Filing.enterprise_id == bindparam("enterprise_id"),
                                           Filing.id == bindparam("filing_id"))
                      .options(joinedload(Filing.declarations)))
_ENTERPRISE_FILING_FOR_UPDATE = _ENTERPRISE_FILING.with_for_update(of=Filing)


def get_filing(ctx: Context, filing_id: str | uuid.UUID, *, for_update: bool = False) -> Filing:
    """The filing with its declarations (one query) if the actor may see it (locked for the transaction
    when ``for_update``), else 404."""
    actor = ctx.as_actor()
    parsed = parse_id(filing_id, "filing")
    if actor.kind is OrgKind.enterprise:  # the hot path: one statement built once, parameters bound per call
        query = _ENTERPRISE_FILING_FOR_UPDATE if for_update else _ENTERPRISE_FILING
        params = {"enterprise_id": actor.org_id, "filing_id": parsed}
    else:
        query = filings_visible_to(actor).where(Filing.id == parsed).options(joinedload(Filing.declarations))
        query, params = (query.with_for_update(of=Filing) if for_update else query), {}
    filing = ctx.session.execute(query, params).unique().scalar_one_or_none()
    if filing is None:
        raise NotFound.of("filing", filing_id)
    return filing


def get_declaration(ctx: Context, declaration_id: str | uuid.UUID, *, for_update: bool = False) -> Declaration:
    """The declaration if the actor may see it (locked when ``for_update``), else 404."""
    query = declarations_visible_to(ctx.as_actor()).where(
        Declaration.id == parse_id(declaration_id, "declaration"))
    if for_update:
        query = query.with_for_update(of=Declaration)
    declaration = ctx.session.scalar(query)
    if declaration is None:
        raise NotFound.of("declaration", declaration_id)
    return declaration


def get_filing_unscoped(ctx: Context, filing_id: uuid.UUID, *, for_update: bool = False) -> Filing:
    """The filing of a declaration the actor already may see (the declaration's scope is the check)."""
    query = select(Filing).where(Filing.id == filing_id)
    if for_update:
        query = query.with_for_update(of=Filing)
    filing = ctx.session.scalar(query)
    if filing is None:
        raise NotFound.of("filing", filing_id)
    return filing
