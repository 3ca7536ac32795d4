"""A consignment's timeline: every event of its filing the organisation may see, with its containers' events.

Events come from the event log (the outbox every state change writes), filtered
by the organisation's recipient rows, so the page shows exactly what the feed
would; confidential fields only for agencies (``events.feed.event_out``).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, or_, select, union_all

from onewindow.context import Context
from onewindow.events.feed import event_out
from onewindow.models import ContainerVisit, Declaration, Event, EventRecipient, Filing, InspectionDeclaration
from onewindow.models.event import CONTAINER_SUBJECT, INSPECTION_SUBJECT, recipient_of

LIMIT = 500


def consignment_timeline(ctx: Context, filing: Filing) -> list[dict[str, Any]]:
    """The events of ``filing`` and of its containers' visits since it was entered that the caller's
    organisation received, oldest first (at most :data:`LIMIT`)."""
    query = timeline_query(ctx.as_actor().org_id, filing)
    return [event_out(ctx, event) for event in ctx.session.scalars(query)]


def timeline_query(organisation_id: uuid.UUID, filing: Filing) -> Select:
    """The statement of :func:`consignment_timeline`. The events are found by the filing's index, the
    container events' and the inspection events' indexes, then each is kept if ``organisation_id`` is among
    its recipients (a seek): the work grows with the consignment, not with the organisation's feed."""
    numbers = sorted({c["number"] for c in filing.data.get("containers", []) if isinstance(c, dict)})
    visits = select(ContainerVisit.id).where(ContainerVisit.number.in_(numbers), or_(
        ContainerVisit.gated_out_at.is_(None), ContainerVisit.gated_out_at >= filing.created_at))
    inspections = (select(InspectionDeclaration.inspection_id)
                   .join(Declaration, Declaration.id == InspectionDeclaration.declaration_id)
                   .where(Declaration.filing_id == filing.id))
    about = union_all(select(Event.seq).where(Event.filing_id == filing.id),
                      select(Event.seq).where(CONTAINER_SUBJECT, Event.subject_id.in_(visits)),
                      # an inspection serving other consignments too: its events name no filing
                      select(Event.seq).where(INSPECTION_SUBJECT, Event.subject_id.in_(inspections)))
    received = select(EventRecipient.event_seq).where(recipient_of(organisation_id)).exists()
    return select(Event).where(Event.seq.in_(about), received).order_by(Event.occurred_at, Event.seq).limit(LIMIT)
