"""Who may see an inspection's or a container's events, read with one query and kept for the transaction.

A step often records several events about the same inspection (a check-in
that starts it, a result that completes it) or the same port; their
recipients are read once per transaction and reused. What is kept is
forgotten when the transaction ends and whenever the unit of work is about
to write organisations or which declarations an inspection serves (the only
changes that alter these answers).
"""

from __future__ import annotations

import uuid
from itertools import chain
from typing import NamedTuple

from sqlalchemy import bindparam, event, null, select, union_all
from sqlalchemy.orm import Session

from onewindow.context import Context
from onewindow.inspections.stored import read
from onewindow.sql import Prepared
from onewindow.models import Declaration, Filing, InspectionDeclaration, Organisation, OrgKind

_KEPT = "onewindow.recipients"


def _kept(session: Session) -> dict:
    return session.info.setdefault(_KEPT, {})


def forget(session: Session) -> None:
    """Drop what this session has kept (the answers would change)."""
    session.info.pop(_KEPT, None)


def _terminals(port_is_null: bool):
    port = Organisation.port.is_(None) if port_is_null else Organisation.port == bindparam("port")
    return select(Organisation.id.label("id"), null().label("filing_id")).where(
        Organisation.kind == OrgKind.terminal.value, port)


_TERMINALS = {True: Prepared(_terminals(True)), False: Prepared(_terminals(False))}
_ONLOOKERS = {null_port: union_all(
    select(Filing.enterprise_id.label("id"), Filing.id.label("filing_id"))
    .join(Declaration, Declaration.filing_id == Filing.id)
    .join(InspectionDeclaration, InspectionDeclaration.declaration_id == Declaration.id)
    .where(InspectionDeclaration.inspection_id == bindparam("inspection_id")),
    _terminals(null_port)) for null_port in (True, False)}
_ONLOOKERS = {null_port: Prepared(statement) for null_port, statement in _ONLOOKERS.items()}


def port_terminals(ctx: Context, port: str | None) -> list[uuid.UUID]:
    """The terminals serving ``port``."""
    kept = _kept(ctx.session)
    key = ("terminals", port)
    if key not in kept:
        kept[key] = [i for i, _ in read(ctx.session, _TERMINALS[port is None], {"port": port})]
    return kept[key]


class Onlookers(NamedTuple):
    """Who follows an inspection besides its agencies."""

    organisations: list[uuid.UUID]
    """The enterprises of the filings it serves, then the terminals of its port."""
    filing_id: uuid.UUID | None
    """The filing it serves, its events' ``filing_id``; None when it serves several (a container shared by
    consignments): an event names no consignment to the enterprises of the others."""


def inspection_onlookers(ctx: Context, inspection_id: uuid.UUID, port: str | None) -> Onlookers:
    """The enterprises of the filings the inspection serves and the terminals of its port (one query).

    The inspection's declarations are read as stored (pending changes of the
    unit of work are written first).
    """
    kept = _kept(ctx.session)
    key = ("inspection", inspection_id, port)
    if key not in kept:
        found = read(ctx.session, _ONLOOKERS[port is None], {"inspection_id": inspection_id, "port": port})
        filings = sorted({f for _, f in found if f is not None})
        kept[key] = Onlookers(
            organisations=list(dict.fromkeys(chain((i for i, f in found if f), (i for i, f in found if not f)))),
            filing_id=filings[0] if len(filings) == 1 else None)
        kept.setdefault(("terminals", port), [i for i, f in found if f is None])
    return kept[key]


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush_context, _instances) -> None:
    if _KEPT in session.info and any(isinstance(obj, (Organisation, InspectionDeclaration))
                                     for obj in chain(session.new, session.dirty, session.deleted)):
        forget(session)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction) -> None:
    if transaction.parent is None:
        forget(session)
