"""What a service call runs with: the session, the clock, the settings and the acting party."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from onewindow.clock import Clock
from onewindow.config import Settings
from onewindow.errors import Forbidden
from onewindow.models import Organisation, OrgKind, User
from onewindow.parties.permissions import Permission, grants


class Copies(Protocol):
    """Makes an actor's own copies of its organisation and user (see :meth:`Actor.deferred`)."""

    def copy_organisation(self) -> Organisation: ...

    def copy_user(self, organisation: Organisation) -> User: ...


class Actor:
    """The authenticated caller: a user of an organisation (``user`` None for system work).

    Made from the organisation and user objects, or (:meth:`deferred`) from their ids, the organisation's
    kind and the role, each object made on first use: most requests need no more than the ids, the kind
    and the role, many the organisation, few the user.
    """

    __slots__ = ("org_id", "user_id", "role", "_kind", "_organisation", "_user", "_copies")

    def __init__(self, organisation: Organisation, user: User | None, role: str) -> None:
        self.org_id, self.user_id, self.role, self._kind = organisation.id, user.id if user else None, role, \
            organisation.kind
        self._organisation: Organisation | None = organisation
        self._user, self._copies = user, None

    @classmethod
    def deferred(cls, *, org_id: uuid.UUID, kind: str, user_id: uuid.UUID, role: str, copies: Copies) -> Actor:
        """An actor whose organisation and user ``copies`` makes when first asked for (the user's
        ``organisation`` is the actor's)."""
        actor = cls.__new__(cls)
        actor.org_id, actor.user_id, actor.role, actor._kind = org_id, user_id, role, kind
        actor._organisation, actor._user, actor._copies = None, None, copies
        return actor

    @property
    def organisation(self) -> Organisation:
        if self._organisation is None:
            self._organisation = self._copies.copy_organisation()
        return self._organisation

    @property
    def user(self) -> User | None:
        if self._user is None and self._copies is not None:
            self._user = self._copies.copy_user(self.organisation)
        return self._user

    @property
    def kind(self) -> OrgKind:
        return OrgKind(self._kind)

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
