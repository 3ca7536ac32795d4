from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base, IdMixin


class DecisionStatus(StrEnum):
    pending = "pending"  # waiting for the other agencies (or the match window)
    matched = "matched"  # placed in an inspection
    cleared = "cleared"  # no inspection wanted


class InspectionStatus(StrEnum):
    awaiting_relocation = "awaiting_relocation"
    ready = "ready"
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"


OPEN_INSPECTION = frozenset({InspectionStatus.awaiting_relocation, InspectionStatus.ready,
                             InspectionStatus.scheduled, InspectionStatus.in_progress})
STARTED_INSPECTION = frozenset({InspectionStatus.in_progress, InspectionStatus.completed})


class InspectionDecision(IdMixin, Base):
    """An agency's decision on one declaration: inspect which containers, how, and why (confidential)."""

    __tablename__ = "inspection_decisions"
    __table_args__ = (Index("ix_inspection_decisions_status", "status", "decided_at"),)

    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"), index=True)
    agency: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    inspect: Mapped[bool]
    containers: Mapped[list[str]]
    kind: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default=DecisionStatus.pending)
    decided_at: Mapped[datetime]
    matched_at: Mapped[datetime | None]


class Inspection(IdMixin, Base):
    """One opening of one or more containers, by one agency (single) or several (joint)."""

    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_status_appointment", "status", "appointment_at"),
                      Index("ix_inspections_completed_at", "completed_at"))
    """Open inspections by status (appointments past their grace among them) and those completed since a time,
    without reading every inspection ever made."""

    port: Mapped[str | None] = mapped_column(String(5), index=True)
    status: Mapped[str] = mapped_column(String(24), default=InspectionStatus.awaiting_relocation)
    joint: Mapped[bool]
    late: Mapped[bool] = mapped_column(default=False)
    location: Mapped[str | None] = mapped_column(String(200))
    matched_at: Mapped[datetime]
    relocated_at: Mapped[datetime | None]
    appointment_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    containers: Mapped[list["InspectionContainer"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="InspectionContainer.number")
    participants: Mapped[list["InspectionParticipant"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="InspectionParticipant.agency",
        foreign_keys="InspectionParticipant.inspection_id")
    declarations: Mapped[list["InspectionDeclaration"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def container_numbers(self) -> list[str]:
        return [c.number for c in self.containers]

    @property
    def agencies(self) -> list[str]:
        return [p.agency for p in self.participants]


class InspectionContainer(Base):
    __tablename__ = "inspection_containers"

    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), primary_key=True)
    number: Mapped[str] = mapped_column(String(11), primary_key=True, index=True)


class InspectionDeclaration(Base):
    """Which declarations' decisions an inspection serves (parties of the filing see it)."""

    __tablename__ = "inspection_declarations"

    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), primary_key=True)
    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"), primary_key=True, index=True)


class InspectionParticipant(Base):
    """One agency in an inspection: its decision, check-in (or absence) and result."""

    __tablename__ = "inspection_participants"
    __table_args__ = (Index("ix_inspection_participants_organisation_inspection", "organisation_id", "inspection_id"),)
    """An organisation's part in one inspection is one index probe (the agency scope of every inspection read)."""

    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), primary_key=True)
    agency: Mapped[str] = mapped_column(String(16), primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    kinds: Mapped[list[str]]
    reasons: Mapped[list[str]]
    checked_in_at: Mapped[datetime | None]
    checked_in_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    absent: Mapped[bool] = mapped_column(default=False)
    adopted_at: Mapped[datetime | None]
    """An absent agency relied on the others' results (结果共享) then."""
    reinspected_at: Mapped[datetime | None]
    """An absent agency asked for an inspection of its own then (``reinspection_id``) instead."""
    reinspection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inspections.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    findings: Mapped[str | None] = mapped_column(String(2000))
    disposal: Mapped[str | None] = mapped_column(String(1000))
    result_at: Mapped[datetime | None]
    result_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class RelocationTask(IdMixin, Base):
    """The terminal's task to move an inspection's containers to the inspection site (移柜)."""

    __tablename__ = "relocation_tasks"
    __table_args__ = (Index("ix_relocation_tasks_port_status", "port", "status", "created_at"),)
    """A port's open tasks, oldest first, without reading its completed ones."""

    inspection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspections.id"), unique=True)
    port: Mapped[str | None] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default="open")
    location: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
