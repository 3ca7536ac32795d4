from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from onewindow.models.base import Base

STAGES = ("arrival_to_filing", "filing_to_release", "release_to_gate_out", "arrival_to_release",
          "arrival_to_gate_out")
"""The stages of the clearance-time study, each a ``<stage>_seconds`` column of :class:`ClearanceRecord`."""
AGENCIES = ("customs", "ciq")
"""Agencies with a declaration of their own; each has a ``<agency>_filing_to_release_seconds`` column."""
FIGURES = (*(f"{s}_seconds" for s in STAGES), *(f"{a}_filing_to_release_seconds" for a in AGENCIES))


class ClearanceRecord(Base):
    """One consignment (filing) in the clearance-time study: its milestones, stages and dimensions.

    A projection of the event log kept by :mod:`onewindow.timing.projection`; never written by the
    domain services. ``started_on``/``started_week`` (in the study's time zone) place the consignment in
    a period; stage durations are whole seconds, None until both ends of the stage are known.
    """

    __tablename__ = "clearance_records"
    __table_args__ = (
        # PostgreSQL answers a period from this index alone (every figure is in it)
        Index("ix_clearance_records_started_on", "started_on", postgresql_include=["complete", *FIGURES]),
        Index("ix_clearance_records_port_started_on", "port", "started_on"),
        Index("ix_clearance_records_customs_office_started_on", "customs_office", "started_on"),
        Index("ix_clearance_records_ciq_office_started_on", "ciq_office", "started_on"),
        Index("ix_clearance_records_inspection_place_started_on", "inspection_place", "started_on"),
        Index("ix_clearance_records_destination_started_on", "destination", "started_on"),
        Index("ix_clearance_records_direction_started_on", "direction", "started_on"),
    )

    filing_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    """The filing (no foreign key: the study is a projection, rebuilt or bulk-loaded on its own)."""
    direction: Mapped[str] = mapped_column(String(8))
    port: Mapped[str] = mapped_column(String(5))
    customs_office: Mapped[str | None] = mapped_column(String(16))
    ciq_office: Mapped[str | None] = mapped_column(String(16))
    transport_mode: Mapped[str | None] = mapped_column(String(4))
    trade_mode: Mapped[str | None] = mapped_column(String(8))
    credit_level: Mapped[str] = mapped_column(String(16))
    inspection: Mapped[str] = mapped_column(String(8))
    inspection_place: Mapped[str | None] = mapped_column(String(5))
    destination: Mapped[str | None] = mapped_column(String(8))
    inspections: Mapped[int] = mapped_column(default=0)
    no_shows: Mapped[int] = mapped_column(default=0)
    rejections: Mapped[int] = mapped_column(default=0)
    pre_arrival: Mapped[bool] = mapped_column(default=False)
    complete: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime]
    started_on: Mapped[date]
    started_week: Mapped[date]
    arrived_at: Mapped[datetime | None]
    filed_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    matched_at: Mapped[datetime | None]
    relocated_at: Mapped[datetime | None]
    inspection_started_at: Mapped[datetime | None]
    inspection_completed_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    gated_out_at: Mapped[datetime | None]
    arrival_to_filing_seconds: Mapped[int | None]
    filing_to_release_seconds: Mapped[int | None]
    release_to_gate_out_seconds: Mapped[int | None]
    arrival_to_release_seconds: Mapped[int | None]
    arrival_to_gate_out_seconds: Mapped[int | None]
    customs_filing_to_release_seconds: Mapped[int | None]
    """Filing of the customs declaration → its release in force (the agency's own time)."""
    ciq_filing_to_release_seconds: Mapped[int | None]
    projected_at: Mapped[datetime]


class ClearanceAgencyRecord(Base):
    """One agency's part of a consignment in the study: its declaration's filing, acceptance and release."""

    __tablename__ = "clearance_agency_records"

    filing_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clearance_records.filing_id", ondelete="CASCADE"),
                                                 primary_key=True)
    agency: Mapped[str] = mapped_column(String(16), primary_key=True)
    office: Mapped[str] = mapped_column(String(16))
    filed_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    rejections: Mapped[int] = mapped_column(default=0)
    filing_to_release_seconds: Mapped[int | None]
