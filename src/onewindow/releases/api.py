"""HTTP routes of one release: agency release and hold, the combined release, gate-out."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from onewindow.filings.presenters import declaration_answer, declaration_read
from onewindow.filings.schemas import DeclarationOut
from onewindow.http import AsCaller
from onewindow.releases import service

router = APIRouter(tags=["one release"])


class Hold(BaseModel):
    reason: str = Field(min_length=1, max_length=service.HOLD_REASON_MOST)


class ContainerRelease(BaseModel):
    container: str
    released: bool
    released_at: datetime | None
    agencies: list[str]
    pending: list[str]


class GateOut(BaseModel):
    container: str
    gated_out_at: datetime


@router.post("/declarations/{declaration_id}/release", response_model=DeclarationOut)
async def release(caller: AsCaller, declaration_id: str) -> DeclarationOut:
    """The agency releases its declaration (409 while an inspection it takes part in is open)."""
    return await caller.run(lambda ctx: declaration_read(ctx, service.release(ctx, declaration_id)),
                            then=declaration_answer)


@router.post("/declarations/{declaration_id}/revoke-release", response_model=DeclarationOut)
async def revoke(caller: AsCaller, declaration_id: str, body: Hold) -> DeclarationOut:
    """A hold before gate-out: the declaration's containers are no longer released."""
    return await caller.run(lambda ctx: declaration_read(ctx, service.revoke(ctx, declaration_id, body.reason)),
                            then=declaration_answer)


@router.get("/containers/{number}/release", response_model=ContainerRelease)
async def container_release(caller: AsCaller, number: str) -> ContainerRelease:
    """Released means every agency with a covering declaration has released it."""
    return await caller.run(lambda ctx: ContainerRelease(**service.release_status(ctx, number)))


@router.post("/containers/{number}/gate-out", response_model=GateOut)
async def gate_out(caller: AsCaller, number: str) -> GateOut:
    """The terminal lets the container leave; 409 naming the pending agencies before release."""
    return await caller.run(lambda ctx: service.gate_out(ctx, number), then=lambda done: GateOut(**done))
