from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    code: str
    name: str
    port: str | None
    credit_level: str | None
    created_at: datetime


class Me(BaseModel):
    organisation: OrganisationOut
    user: str | None
    role: str
    permissions: list[str]
