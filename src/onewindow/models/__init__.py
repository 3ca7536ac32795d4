"""All tables, one module each, re-exported here for Alembic and the services."""

from onewindow.models.api_token import ApiToken
from onewindow.models.base import Base
from onewindow.models.declaration import (
    STAGED_STATUSES, Declaration, DeclarationStatus, DeclarationVersion, Notice,
)
from onewindow.models.clearance import AGENCIES, FIGURES, STAGES, ClearanceAgencyRecord, ClearanceRecord
from onewindow.models.clearance_publication import ClearancePublication
from onewindow.models.container import ContainerVisit, DeclarationContainer
from onewindow.models.event import Event, EventRecipient
from onewindow.models.filing import Filing, FilingStatus, FilingVersion
from onewindow.models.idempotency import IdempotencyRecord
from onewindow.models.inspection import (
    OPEN_INSPECTION, STARTED_INSPECTION, DecisionStatus, Inspection, InspectionContainer, InspectionDecision,
    InspectionDeclaration, InspectionParticipant, InspectionStatus, RelocationTask,
)
from onewindow.models.number_sequence import NumberSequence
from onewindow.models.organisation import AGENCY_KINDS, CreditLevel, Organisation, OrgKind
from onewindow.models.release import Release
from onewindow.models.sink_cursor import SinkCursor
from onewindow.models.user import User
from onewindow.models.web_session import WebSession
from onewindow.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "OPEN_INSPECTION", "AGENCIES", "FIGURES", "STAGES", "ClearanceAgencyRecord", "ClearancePublication",
    "ClearanceRecord",
    "STARTED_INSPECTION", "ContainerVisit", "DeclarationContainer", "DecisionStatus",
    "Inspection", "InspectionContainer", "InspectionDecision", "InspectionDeclaration", "InspectionParticipant",
    "InspectionStatus",
    "RelocationTask", "Release", "SinkCursor",
    "AGENCY_KINDS", "ApiToken", "Base", "CreditLevel", "Declaration", "DeclarationStatus", "DeclarationVersion",
    "Event", "EventRecipient", "Filing", "FilingStatus", "FilingVersion", "IdempotencyRecord", "Notice",
    "NumberSequence", "OrgKind", "Organisation", "STAGED_STATUSES", "User", "WebSession",
    "DeliveryStatus", "WebhookAttempt", "WebhookDelivery", "WebhookSubscription",
]
