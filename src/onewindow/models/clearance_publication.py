from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from onewindow.models.base import Base


class ClearancePublication(Base):
    """One published answer of the clearance-time figures, kept up to date by the scheduler.

    Keyed by the normalised query (:func:`onewindow.timing.publication.key_of`): what was asked
    (``kind``, ``params``, ``min_group``), the answer as served (JSON, with its ``as_of``), when it was
    computed and the study's position (the projection cursor, ``study_tx``/``study_seq``) when the
    computation began, so the figures reflect at least that much of the event log.
    """

    __tablename__ = "clearance_publications"

    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``figures`` (a :func:`onewindow.timing.service.figures` answer), ``series`` (the same with the stages
    a chart draws) or ``distribution`` (the histogram): ``onewindow.timing.service.KINDS``."""
    params: Mapped[dict[str, Any]]
    """The query as parameters (:meth:`onewindow.timing.filters.FigureQuery.as_params`)."""
    min_group: Mapped[int]
    answer: Mapped[dict[str, Any]]
    as_of: Mapped[datetime]
    """When the answer was computed (the platform clock)."""
    study_tx: Mapped[int] = mapped_column(BigInteger)
    study_seq: Mapped[int] = mapped_column(BigInteger)
    compute_seconds: Mapped[float] = mapped_column(Float)
    """How long the computation took (wall clock), for operators."""
    asked_at: Mapped[datetime | None]
    """The last time the public endpoint or page asked for it (touched at most once an hour); None when only
    the standard set holds it."""
