"""The one-time entry (what the enterprise types once) and the answers about filings.

Field names follow the contract (docs/api.md); the customs data items they map
to, with their ``DecMessage`` tags, are in docs/declaration-data.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from onewindow.refdata.types import (
    USCC, CiqOffice, ContainerNumber, Country, Currency, CustomsOffice, HSCode, PackageType, Port, SizeType,
    TradeMode, TransactionMode, TransportMode, UnitCode,
)

Text = Field(min_length=1, max_length=255)

# The largest values the customs declaration's data items hold (DecMessage): PackNo 9 digits; GrossWet, NetWt
# and GQty 19 digits, 5 of them decimals; DeclPrice 19 with 4 decimals; DeclTotal 17 with 2. Numbers are finite.
MOST_PACKAGES = 999_999_999
WEIGHT_OR_QUANTITY_BELOW = 1e14
PRICE_BELOW = 1e15

REASON_MOST = 1000
"""The longest reason of a rejection (退单) or an amendment, in characters: the API's schemas and the services
(``filings.declarations``, which the pages and the CLI call) refuse a longer one alike."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DomesticParty(Strict):
    """A party registered in China, named by its Unified Social Credit Code."""

    uscc: USCC
    name: str = Text


class OverseasParty(Strict):
    name: str = Text
    country: Country | None = None


class Conveyance(Strict):
    name: str = Field(min_length=1, max_length=100)
    voyage: str = Field(min_length=1, max_length=32)


class Container(Strict):
    number: ContainerNumber
    size_type: SizeType


class Item(Strict):
    hs_code: HSCode
    name: str = Text
    spec: str | None = Field(default=None, max_length=255)
    quantity: float = Field(gt=0, lt=WEIGHT_OR_QUANTITY_BELOW, allow_inf_nan=False)
    unit: UnitCode
    unit_price: float = Field(ge=0, lt=PRICE_BELOW, allow_inf_nan=False)
    total_price: float = Field(gt=0, lt=PRICE_BELOW, allow_inf_nan=False)
    origin_country: Country


DocumentKind = Literal["invoice", "packing_list", "contract", "bill_of_lading", "certificate_of_origin",
                       "health_certificate", "phytosanitary_certificate", "licence", "other"]


class Document(Strict):
    kind: DocumentKind
    number: str = Field(min_length=1, max_length=64)


class FilingEntry(Strict):
    """The whole one-time entry. Cross-field rules are in ``filings.validation``."""

    direction: Literal["import", "export"]
    consignee: DomesticParty | None = None
    consignor: DomesticParty | None = None
    declarant: DomesticParty | None = None
    overseas_party: OverseasParty
    trade_mode: TradeMode
    transport_mode: TransportMode
    transaction_mode: TransactionMode
    customs_office: CustomsOffice
    ciq_office: CiqOffice | None = None
    port: Port
    conveyance: Conveyance
    bill_of_lading: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    trade_country: Country
    departure_country: Country | None = None
    destination_country: Country | None = None
    currency: Currency
    packages: int = Field(gt=0, le=MOST_PACKAGES)
    package_type: PackageType
    gross_weight_kg: float = Field(gt=0, lt=WEIGHT_OR_QUANTITY_BELOW, allow_inf_nan=False)
    net_weight_kg: float = Field(gt=0, lt=WEIGHT_OR_QUANTITY_BELOW, allow_inf_nan=False)
    containers: list[Container] = Field(default_factory=list, max_length=500)
    items: list[Item] = Field(min_length=1, max_length=500)
    documents: list[Document] = Field(default_factory=list, max_length=100)
    remarks: str | None = Field(default=None, max_length=1000)


class Receipt(BaseModel):
    """An agency's answer (回执): accepted with its number, or rejected with a reason."""

    outcome: Literal["accepted", "rejected"]
    number: str | None = None
    reason: str | None = None
    at: datetime


class DeclarationSummary(BaseModel):
    id: uuid.UUID
    agency: str
    office: str
    status: str
    number: str | None
    version: int
    submitted_at: datetime | None
    receipt: Receipt | None


class FilingOut(BaseModel):
    id: uuid.UUID
    status: str
    version: int
    direction: str
    port: str
    bill_of_lading: str
    created_at: datetime
    updated_at: datetime
    declarations: list[DeclarationSummary]
    data: dict[str, Any]


class ReleaseOut(BaseModel):
    declaration_id: uuid.UUID
    agency: str
    released_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None


class GateOutOut(BaseModel):
    container: str
    gated_out_at: datetime


class FilingDetail(FilingOut):
    """A filing with everything that happened to it: inspections (as its enterprise sees them), releases, gate-outs."""

    inspections: list[Any]
    releases: list[ReleaseOut]
    gate_outs: list[GateOutOut]


class NoticeOut(BaseModel):
    id: uuid.UUID
    source_declaration_id: uuid.UUID
    source_agency: str
    source_version: int
    changed_fields: list[str]
    reason: str | None
    created_at: datetime


class DeclarationOut(DeclarationSummary):
    filing_id: uuid.UUID
    direction: str
    data: dict[str, Any]
    notices: list[NoticeOut]


class FilingVersionOut(BaseModel):
    version: int
    changed_fields: list[str]
    created_at: datetime
    data: dict[str, Any]


class DeclarationVersionOut(BaseModel):
    version: int
    changes: dict[str, Any]
    reason: str | None
    author_organisation_id: uuid.UUID
    created_at: datetime
    data: dict[str, Any]


class SubmitRequest(Strict):
    agencies: list[str] | None = None


class RejectRequest(Strict):
    reason: str = Field(min_length=1, max_length=REASON_MOST)


class AmendmentRequest(Strict):
    """An amendment's body; a blank reason is refused by the service, together with every bad change."""

    changes: dict[str, Any] = Field(min_length=1)
    reason: str = Field(max_length=REASON_MOST)
