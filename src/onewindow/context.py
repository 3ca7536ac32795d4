"""What a service call runs with: the session, the clock, the settings and the acting party."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from onewindow.clock import Clock
from onewindow.config import Settings
from onewindow.errors import Forbidden
from onewindow.models import Organisation, OrgKind, User
from onewindow.parties.permissions import Permission, grants


class Actor:
    """The authenticated caller: a user of an organisation (``user`` None for system work).

    Made from the organisation and user objects, or (:meth:`deferred`) from their ids, the organisation's
    kind and the role, with a function that makes the objects on first use of either: most requests need
    no more than the ids, the kind and the role.
    """

    __slots__ = ("org_id", "user_id", "role", "_kind", "_objects", "_make")

    def __init__(self, organisation: Organisation, user: User | None, role: str) -> None:
        self.org_id, self.user_id, self.role, self._kind = organisation.id, user.id if user else None, role, \
            organisation.kind
        self._objects: tuple[Organisation, User | None] | None = (organisation, user)
        self._make: Callable[[], tuple[Organisation, User | None]] | None = None

    @classmethod
    def deferred(cls, *, org_id: uuid.UUID, kind: str, user_id: uuid.UUID | None, role: str,
                 make: Callable[[], tuple[Organisation, User | None]]) -> Actor:
        """An actor whose organisation and user ``make()`` makes when first asked for."""
        actor = cls.__new__(cls)
        actor.org_id, actor.user_id, actor.role, actor._kind = org_id, user_id, role, kind
        actor._objects, actor._make = None, make
        return actor

    @property
    def organisation(self) -> Organisation:
        return self._made()[0]

    @property
    def user(self) -> User | None:
        return self._made()[1]

    def _made(self) -> tuple[Organisation, User | None]:
        if self._objects is None:
            self._objects = self._make()
        return self._objects

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
