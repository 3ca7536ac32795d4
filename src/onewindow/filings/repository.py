"""Scoped queries: every fetch or list of filings and declarations goes through here.

A record the caller may not see is the same as a record that does not exist
(404). Enterprises see their own filings and their declarations; an agency
office sees the declarations routed to it once they are filed.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, false, outerjoin, select
from sqlalchemy.orm import defer, joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from onewindow.context import Actor, Context
from onewindow.errors import NotFound, parse_id
from onewindow.models import AGENCY_KINDS, Declaration, DeclarationStatus, Filing, OrgKind
from onewindow.rows import columns, from_row, holds_any, keys, place
from onewindow.sql import Prepared, for_change, loaded, locks_are_waited_for


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


_ENTERPRISE_FILING = (
    select(*columns(Filing), *columns(Declaration))
    .select_from(outerjoin(Filing.__table__, Declaration.__table__,
                           Declaration.__table__.c.filing_id == Filing.__table__.c.id))
    .where(Filing.__table__.c.enterprise_id == bindparam("enterprise_id"),
           Filing.__table__.c.id == bindparam("filing_id"))
    .order_by(Declaration.__table__.c.agency))
_ENTERPRISE_FILING_ROWS = {False: Prepared(_ENTERPRISE_FILING),
                           True: Prepared(for_change(_ENTERPRISE_FILING, of=Filing.__table__))}
"""An enterprise's filing and its declarations, one row per declaration (locked with ``True``)."""
_ENTERPRISE_FILING_LOCK = Prepared(for_change(select(Filing.__table__.c.id).where(
    Filing.__table__.c.enterprise_id == bindparam("enterprise_id"), Filing.__table__.c.id == bindparam("filing_id"))))
"""The id of an enterprise's filing, the filing locked."""


def get_filing(ctx: Context, filing_id: str | uuid.UUID, *, for_update: bool = False) -> Filing:
    """The filing with its declarations (one query) if the actor may see it (locked for the transaction
    when ``for_update``), else 404.

    Where a lock may have been waited for (:func:`onewindow.sql.locks_are_waited_for`) the filing is locked
    first and read after, so its declarations are as the lock's last holder left them: a second submit of
    the same filing sees the declarations the first one filed."""
    actor = ctx.as_actor()
    parsed = parse_id(filing_id, "filing")
    locked = for_update
    if for_update and locks_are_waited_for(ctx.session):
        if not _lock_filing(ctx, actor, parsed):
            raise NotFound.of("filing", filing_id)
        for_update = False  # held: the statements below read what the lock's last holder committed
    if actor.kind is OrgKind.enterprise and not holds_any(ctx.session, Filing, Declaration):
        filing = _enterprise_filing(ctx, actor, parsed, for_update)  # the hot path: a prepared statement
    else:
        query = filings_visible_to(actor).where(Filing.id == parsed).options(joinedload(Filing.declarations))
        query = for_change(query, of=Filing) if for_update else query
        filing = ctx.session.execute(query, execution_options={"populate_existing": locked}
                                     ).unique().scalar_one_or_none()
    if filing is None:
        raise NotFound.of("filing", filing_id)
    return filing


def _lock_filing(ctx: Context, actor: Actor, filing_id: uuid.UUID) -> bool:
    """Lock the filing if the actor may see it; whether it may."""
    if actor.kind is OrgKind.enterprise:
        return bool(_ENTERPRISE_FILING_LOCK.all(ctx.session, {"enterprise_id": actor.org_id, "filing_id": filing_id}))
    query = filings_visible_to(actor).with_only_columns(Filing.id).where(Filing.id == filing_id)
    return ctx.session.execute(for_change(query, of=Filing)).first() is not None


def _enterprise_filing(ctx: Context, actor: Actor, filing_id: uuid.UUID, for_update: bool) -> Filing | None:
    """The enterprise's filing and its declarations from one prepared query, placed in the session as the
    ORM would have loaded them."""
    found = _ENTERPRISE_FILING_ROWS[for_update].all(ctx.session, {"enterprise_id": actor.org_id,
                                                                   "filing_id": filing_id})
    if not found:
        return None
    width = len(columns(Filing))
    filing = from_row(Filing, found[0][:width])
    declarations = [from_row(Declaration, row[width:], filing=filing) for row in found if row[width] is not None]
    set_committed_value(filing, "declarations", declarations)
    place(ctx.session, filing, *declarations)
    return filing


def _declaration_scope(actor: Actor) -> str:
    if actor.kind is OrgKind.enterprise:
        return "enterprise"
    if actor.kind in AGENCY_KINDS:
        return "agency"
    return "nobody"


@cache
def _declaration_statement(scope: str, for_update: bool, with_filing: bool) -> Select:
    """One declaration by ``:id`` as :func:`declarations_visible_to` scopes it (the actor as ``:org``),
    built once; ``with_filing``: with its filing in the same row (not the filing's other declarations, its
    data on first use)."""
    declaration_id = Declaration.id == bindparam("id")
    if with_filing:
        query = (select(Declaration, Filing).join(Filing, Declaration.filing_id == Filing.id)
                 .options(lazyload(Filing.declarations), defer(Filing.data)))
    else:
        query = select(Declaration)
        if scope == "enterprise":
            query = query.join(Filing, Declaration.filing_id == Filing.id)
    if scope == "enterprise":
        query = query.where(declaration_id, Filing.enterprise_id == bindparam("org"))
    elif scope == "agency":
        query = query.where(declaration_id, Declaration.organisation_id == bindparam("org"),
                            Declaration.status != DeclarationStatus.draft.value)
    else:
        query = query.where(false())
    return for_change(query, of=Declaration) if for_update else query


@cache
def _declaration_row(scope: str, for_update: bool, with_filing: bool) -> Prepared:
    """The columns of one declaration (:func:`onewindow.rows.columns`) as :func:`_declaration_statement` scopes
    it; ``with_filing``: then those of its filing but its data (:func:`_filing_columns`)."""
    where = _declaration_statement(scope, False, False).whereclause
    query = select(*columns(Declaration), *(_filing_columns().values() if with_filing else ())).where(where)
    if scope == "enterprise" or with_filing:
        query = query.join(Filing.__table__, Declaration.__table__.c.filing_id == Filing.__table__.c.id)
    return Prepared(for_change(query, of=Declaration.__table__) if for_update else query)


@cache
def _filing_columns() -> dict[str, Any]:
    """A filing's attribute keys and columns but its data, read when first used (as ``defer`` would)."""
    return {key: column for key, column in zip(keys(Filing), columns(Filing), strict=True) if key != "data"}


def get_declaration(ctx: Context, declaration_id: str | uuid.UUID, *, for_update: bool = False,
                    with_filing: bool = False) -> Declaration:
    """The declaration if the actor may see it (locked when ``for_update``), else 404.

    ``with_filing``: its filing is read in the same statement and set as ``declaration.filing`` (the
    filing's declarations and data are read only if asked for later).
    """
    actor = ctx.as_actor()
    scope = _declaration_scope(actor)
    params = {"id": parse_id(declaration_id, "declaration"), "org": actor.org_id}
    if scope != "nobody" and not holds_any(ctx.session, Declaration, *((Filing,) if with_filing else ())):
        # the hot path: a prepared statement
        declaration = _placed_declaration(ctx, scope, for_update, with_filing, params)
        if declaration is None:
            raise NotFound.of("declaration", declaration_id)
        return declaration
    query = _declaration_statement(scope, for_update, with_filing)
    if with_filing:
        row = ctx.session.execute(query, params).one_or_none()
        declaration = None if row is None else row[0]
        if row is not None and "filing" not in declaration.__dict__:
            set_committed_value(declaration, "filing", row[1])
    else:
        declaration = ctx.session.scalar(query, params)
    if declaration is None:
        raise NotFound.of("declaration", declaration_id)
    return declaration


def _placed_declaration(ctx: Context, scope: str, for_update: bool, with_filing: bool,
                        params: dict) -> Declaration | None:
    """The declaration (and with ``with_filing`` its filing) from one prepared query, placed in the session as
    the ORM would have loaded them."""
    row = _declaration_row(scope, for_update, with_filing).first(ctx.session, params)
    if row is None:
        return None
    if not with_filing:
        declaration = from_row(Declaration, row)
        place(ctx.session, declaration)
        return declaration
    width = len(columns(Declaration))
    filing = loaded(Filing, **dict(zip(_filing_columns(), row[width:], strict=True)))
    declaration = from_row(Declaration, row[:width], filing=filing)
    place(ctx.session, declaration, filing)
    return declaration


def get_filing_unscoped(ctx: Context, filing_id: uuid.UUID, *, for_update: bool = False) -> Filing:
    """The filing of a declaration the actor already may see (the declaration's scope is the check)."""
    query = select(Filing).where(Filing.id == filing_id)
    if for_update:  # one held is read again: as the lock's last holder left it
        query = for_change(query, of=Filing).execution_options(populate_existing=True)
    filing = ctx.session.scalar(query)
    if filing is None:
        raise NotFound.of("filing", filing_id)
    return filing
