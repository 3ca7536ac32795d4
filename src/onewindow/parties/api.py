"""Who am I, and the organisations registered on the platform."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from onewindow.context import Context
from onewindow.http import AsCaller
from onewindow.models import Organisation, OrgKind
from onewindow.parties.permissions import ROLE_PERMISSIONS, Permission, Role
from onewindow.parties.schemas import Me, OrganisationOut

router = APIRouter(tags=["parties"])


@router.get("/me", response_model=Me)
async def me(caller: AsCaller) -> Me:
    """The caller's organisation, user, role and permissions."""
    return await caller.run(_me)


def _me(ctx: Context) -> Me:
    actor = ctx.as_actor()
    perms = sorted(p.value for p in ROLE_PERMISSIONS.get(Role(actor.role), ()))
    return Me(organisation=OrganisationOut.model_validate(actor.organisation),
              user=actor.user.name if actor.user else None, role=actor.role, permissions=perms)


@router.get("/organisations", response_model=list[OrganisationOut])
async def organisations(caller: AsCaller, kind: OrgKind | None = None) -> list[OrganisationOut]:
    """The directory of registered organisations (offices, terminals, enterprises)."""

    def work(ctx: Context) -> list[OrganisationOut]:
        ctx.as_actor().require(Permission.organisation_read)
        query = select(Organisation).order_by(Organisation.kind, Organisation.code)
        if kind:
            query = query.where(Organisation.kind == kind.value)
        return [OrganisationOut.model_validate(o) for o in ctx.session.scalars(query)]

    return await caller.run(work)
