"""``GET /api/v1/events``: the caller's own feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from onewindow.context import Context
from onewindow.events.feed import event_out, read_feed
from onewindow.http import AsCaller

router = APIRouter(tags=["events"])


class FeedPage(BaseModel):
    events: list[dict[str, Any]]
    next: str


@router.get("/events", response_model=FeedPage)
async def feed(caller: AsCaller, after: str | None = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> FeedPage:
    """The caller's events after ``after`` (a cursor from ``next``), oldest first.

    Follow ``next`` to see every event exactly once, in order; an empty page
    keeps the same cursor, to be asked again later.
    """

    def work(ctx: Context) -> FeedPage:
        events, cursor = read_feed(ctx, after, limit)
        return FeedPage(events=[event_out(ctx, e) for e in events], next=cursor)

    return await caller.run(work)
