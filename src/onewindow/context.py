"""What a service call runs with: the session, the clock, the settings and the acting party."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from onewindow.clock import Clock
from onewindow.config import Settings
from onewindow.errors import Forbidden
from onewindow.models import Organisation, OrgKind, User
from onewindow.parties.permissions import Permission, grants


@dataclass(frozen=True)
class Actor:
    """The authenticated caller: a user of an organisation (``user`` None for system work)."""

    organisation: Organisation
    user: User | None
    role: str

    @property
    def kind(self) -> OrgKind:
        return OrgKind(self.organisation.kind)

    @property
    def org_id(self):
        return self.organisation.id

    @property
    def user_id(self):
        return self.user.id if self.user else None

    def can(self, permission: Permission) -> bool:
        return grants(self.role, permission)

    def require(self, permission: Permission) -> None:
        """Raise :class:`Forbidden` unless the actor's role grants ``permission``."""
        if not self.can(permission):
            raise Forbidden(f"the role '{self.role}' does not grant {permission.value}")


@dataclass(frozen=True)
class Context:
    """One unit of work: every service function takes one of these first."""

    session: Session
    clock: Clock
    settings: Settings
    actor: Actor | None = None

    def now(self):
        return self.clock.now()

    def as_actor(self) -> Actor:
        if self.actor is None:
            raise Forbidden("this action needs an authenticated organisation")
        return self.actor
