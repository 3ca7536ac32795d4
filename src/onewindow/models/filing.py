from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base, IdMixin


class FilingStatus(StrEnum):
    draft = "draft"  # at least one declaration is still staged
    filed = "filed"  # every declaration has been filed


class Filing(IdMixin, Base):
    """The enterprise's one-time entry (一次录入); its current data and version.

    The declarations split from it live in ``declarations``; every version of
    the entry is kept in ``filing_versions``.
    """

    __tablename__ = "filings"
    __table_args__ = (Index("ix_filings_enterprise_created", "enterprise_id", "created_at"),)

    enterprise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=FilingStatus.draft)
    version: Mapped[int] = mapped_column(default=1)
    direction: Mapped[str] = mapped_column(String(8))
    port: Mapped[str] = mapped_column(String(5))
    bill_of_lading: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    declarations: Mapped[list["Declaration"]] = relationship(  # noqa: F821
        back_populates="filing", order_by="Declaration.agency", lazy="selectin", cascade="all, delete-orphan")


class FilingVersion(Base):
    """One kept version of a filing's data (staging edits and amendments)."""

    __tablename__ = "filing_versions"

    filing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("filings.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[dict[str, Any]]
    changed_fields: Mapped[list[str]]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
