from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from onewindow.models.base import Base


class NumberSequence(Base):
    """The last receipt number given by one office in one year (per agency kind)."""

    __tablename__ = "number_sequences"

    agency: Mapped[str] = mapped_column(String(16), primary_key=True)
    office_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last_value: Mapped[int] = mapped_column(default=0)
