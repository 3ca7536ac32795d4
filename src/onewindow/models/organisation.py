from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from onewindow.models.base import Base, IdMixin


class OrgKind(StrEnum):
    """Kinds of organisation on the platform (the actors of the Single Window)."""

    enterprise = "enterprise"
    customs = "customs"
    ciq = "ciq"
    border = "border"
    maritime = "maritime"
    terminal = "terminal"
    admin = "admin"

    @property
    def is_agency(self) -> bool:
        return self in AGENCY_KINDS


AGENCY_KINDS = frozenset({OrgKind.customs, OrgKind.ciq, OrgKind.border, OrgKind.maritime})


class CreditLevel(StrEnum):
    """Enterprise credit levels recognised by every office (企业信用等级), the China Customs classes.

    Both certified classes are Authorised Economic Operators (AEO); an enterprise registered without a
    level is ``general``.
    """

    advanced = "advanced"  # 高级认证企业 (advanced certified, AEO)
    certified = "certified"  # 一般认证企业 (general certified, AEO)
    general = "general"  # 一般信用企业
    discredited = "discredited"  # 失信企业


class Organisation(IdMixin, Base):
    """An enterprise, an agency office, a terminal or the platform's operator.

    ``code`` is the USCC for an enterprise, the office code for an agency, a
    short code for a terminal; ``port`` is the UN/LOCODE a terminal serves.
    """

    __tablename__ = "organisations"
    __table_args__ = (Index("ix_organisations_kind_port", "kind", "port"),)
    """The terminals of a port (recipients of its inspections' events) without reading every organisation."""

    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    port: Mapped[str | None] = mapped_column(String(5))
    credit_level: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]

    @property
    def org_kind(self) -> OrgKind:
        return OrgKind(self.kind)
