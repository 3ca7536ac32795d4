"""A consignment's timeline: every event of its filing the organisation may see, with its containers' events.

Events come from the event log (the outbox every state change writes), filtered
by the organisation's recipient rows, so the page shows exactly what the feed
would; confidential fields only for agencies (``events.feed.event_out``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select

from onewindow.context import Context
from onewindow.events.feed import event_out
from onewindow.models import ContainerVisit, Event, EventRecipient, Filing
from onewindow.models.event import recipient_of

LIMIT = 500


def consignment_timeline(ctx: Context, filing: Filing) -> list[dict[str, Any]]:
    """The events of ``filing`` and of its containers' visits since it was entered, oldest first."""
    actor = ctx.as_actor()
    numbers = sorted({c["number"] for c in filing.data.get("containers", []) if isinstance(c, dict)})
    visits = select(ContainerVisit.id).where(ContainerVisit.number.in_(numbers), or_(
        ContainerVisit.gated_out_at.is_(None), ContainerVisit.gated_out_at >= filing.created_at))
    query = (select(Event).join(EventRecipient, recipient_of(actor.org_id))
             .where(or_(Event.filing_id == filing.id,
                        and_(Event.subject_type == "container", Event.subject_id.in_(visits))))
             .order_by(Event.occurred_at, Event.seq).limit(LIMIT))
    return [event_out(ctx, event) for event in ctx.session.scalars(query)]
