from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class DecisionOut(BaseModel):
    id: uuid.UUID
    declaration_id: uuid.UUID
    agency: str
    inspect: bool
    containers: list[str]
    kind: str | None
    reason: str | None
    status: str
    decided_at: datetime


class ParticipantOut(BaseModel):
    agency: str
    kinds: list[str]
    reasons: list[str] | None = None  # agencies only
    checked_in_at: datetime | None
    absent: bool
    adopted_at: datetime | None
    reinspected_at: datetime | None = None  # an absent agency's own inspection instead: when asked ...
    reinspection_id: uuid.UUID | None = None  # ... and which it is
    outcome: str | None
    findings: str | None = None
    disposal: str | None = None
    result_at: datetime | None


class InspectionOut(BaseModel):
    id: uuid.UUID
    containers: list[str]
    agencies: list[str]
    joint: bool
    late: bool
    status: str
    port: str | None
    location: str | None
    appointment: datetime | None
    matched_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    results: list[ParticipantOut]


class TaskOut(BaseModel):
    id: uuid.UUID
    inspection_id: uuid.UUID
    containers: list[str]
    status: str
    location: str | None
    created_at: datetime
    completed_at: datetime | None
