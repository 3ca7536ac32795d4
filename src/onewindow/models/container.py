from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from onewindow.models.base import Base, IdMixin

NOT_GATED_OUT = text("gated_out_at IS NULL")
"""The visits not yet over (no gate-out): a terminal's yard is those of its port that arrived. The yard's index
holds them alone, so it stays the size of the yard however many visits the port has seen."""


class ContainerVisit(IdMixin, Base):
    """One container's stay at a port: from discharge (or first filing) to gate-out.

    The row is the container's lock: releases and gate-out take it ``FOR
    UPDATE`` so a combined release is published exactly once. A container
    number comes back to the port many times; each stay is a new visit, and
    it has at most one open (not gated out) at a time (a unique partial index).
    """

    __tablename__ = "container_visits"
    __table_args__ = (Index("ix_container_visits_number_open", "number", "gated_out_at"),
                      Index("ux_container_visits_open", "number", unique=True, sqlite_where=NOT_GATED_OUT,
                            postgresql_where=NOT_GATED_OUT),
                      Index("ix_container_visits_yard", "port", "arrived_at", sqlite_where=NOT_GATED_OUT,
                            postgresql_where=NOT_GATED_OUT))

    number: Mapped[str] = mapped_column(String(11))
    port: Mapped[str | None] = mapped_column(String(5))
    terminal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    conveyance: Mapped[str | None] = mapped_column(String(100))
    voyage: Mapped[str | None] = mapped_column(String(32))
    arrived_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    gated_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class DeclarationContainer(Base):
    """Which containers a filed declaration covers (kept in step with its data)."""

    __tablename__ = "declaration_containers"

    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    number: Mapped[str] = mapped_column(String(11), primary_key=True, index=True)
