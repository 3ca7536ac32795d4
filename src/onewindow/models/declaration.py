from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base, IdMixin
from onewindow.models.filing import Filing


class DeclarationStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"  # a rejected declaration the corrected filing no longer makes
    inspecting = "inspecting"
    released = "released"


STAGED_STATUSES = frozenset({DeclarationStatus.draft.value, DeclarationStatus.rejected.value})
"""Statuses in which a declaration is in the enterprise's hands: editable through the filing and fileable."""


class Declaration(IdMixin, Base):
    """One agency's part of a filing (报关单 for customs, 报检单 for CIQ), routed to an office.

    ``organisation_id`` is the agency office it is routed to; ``number`` is the
    agency's receipt number, given on acceptance.
    """

    __tablename__ = "declarations"
    __table_args__ = (Index("ix_declarations_office_status", "organisation_id", "status"),)

    filing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("filings.id"), index=True)
    agency: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    office_code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeclarationStatus.draft)
    version: Mapped[int] = mapped_column(default=1)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    data: Mapped[dict[str, Any]]
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    filing: Mapped[Filing] = relationship(back_populates="declarations")


class DeclarationVersion(Base):
    """A filed version of a declaration: version 1 as filed, then one per amendment."""

    __tablename__ = "declaration_versions"

    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[dict[str, Any]]
    changes: Mapped[dict[str, Any]]
    reason: Mapped[str | None] = mapped_column(String(1000))
    author_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Notice(IdMixin, Base):
    """A change notice (变更通报): another declaration of the same filing was amended."""

    __tablename__ = "notices"

    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"), index=True)
    source_declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"))
    source_agency: Mapped[str] = mapped_column(String(16))
    source_version: Mapped[int]
    changed_fields: Mapped[list[str]]
    reason: Mapped[str | None] = mapped_column(String(1000))
    author_organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime]
