from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base, IdMixin
from onewindow.models.user import User


class WebSession(IdMixin, Base):
    """A signed-in browser: the cookie holds a random token, only its SHA-256 digest is stored.

    ``csrf_token`` is the form token bound to this session; ``revoked_at`` is set at logout.
    """

    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")
