from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base, IdMixin
from onewindow.models.organisation import Organisation


class User(IdMixin, Base):
    """A person (or system account) of one organisation, with one role."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    failed_sign_ins: Mapped[int] = mapped_column(default=0, server_default="0")
    """Wrong passwords typed since the last successful sign-in or pause."""
    sign_in_paused_until: Mapped[datetime | None]
    """Until when sign-in is refused after too many wrong passwords (None: not paused)."""

    organisation: Mapped[Organisation] = relationship(lazy="joined")
