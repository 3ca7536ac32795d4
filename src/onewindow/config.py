"""Settings, read from the environment (prefix ``ONEWINDOW_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./var/onewindow.db"


class Settings(BaseSettings):
    """Every setting of the platform; see docs/operations.md for each one."""

    model_config = SettingsConfigDict(env_prefix="ONEWINDOW_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL: ``sqlite:///path`` (embedded default) or ``postgresql+psycopg://...``."""
    database_pool_size: int = Field(default=10, ge=1)
    match_window_seconds: int = Field(default=7200, ge=0)
    """How long an inspection decision waits for the other agencies."""
    checkin_grace_seconds: int = Field(default=1800, ge=0)
    """How late an agency may check in to an inspection appointment."""
    inspection_catalogue: Path | None = None
    """A CSV file replacing the shipped inspection catalogue (see docs/reference-data.md)."""
    embedded_scheduler: bool = True
    """Run the deadline scheduler inside ``onewindow serve`` (turn off when ``onewindow worker`` runs it)."""
    scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    """How often the scheduler looks for deadlines that have passed."""
    log_level: str = "INFO"
    log_json: bool = False


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
