from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from onewindow.models.base import Base


class SinkCursor(Base):
    """How far a sink (the message broker) has published the event log, in feed order (tx, seq)."""

    __tablename__ = "sink_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tx: Mapped[int] = mapped_column(BigInteger, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    published: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None]
