"""Who am I, and the organisations registered on the platform."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from onewindow.http import AuthContext
from onewindow.models import Organisation
from onewindow.parties.permissions import ROLE_PERMISSIONS, Permission, Role
from onewindow.parties.schemas import Me, OrganisationOut

router = APIRouter(tags=["parties"])


@router.get("/me", response_model=Me)
def me(ctx: AuthContext) -> Me:
    """The caller's organisation, user, role and permissions."""
    actor = ctx.as_actor()
    perms = sorted(p.value for p in ROLE_PERMISSIONS.get(Role(actor.role), ()))
    return Me(organisation=OrganisationOut.model_validate(actor.organisation),
              user=actor.user.name if actor.user else None, role=actor.role, permissions=perms)


@router.get("/organisations", response_model=list[OrganisationOut])
def organisations(ctx: AuthContext, kind: str | None = None) -> list[OrganisationOut]:
    """The directory of registered organisations (offices, terminals, enterprises)."""
    ctx.as_actor().require(Permission.organisation_read)
    query = select(Organisation).order_by(Organisation.kind, Organisation.code)
    if kind:
        query = query.where(Organisation.kind == kind)
    return [OrganisationOut.model_validate(o) for o in ctx.session.scalars(query)]
