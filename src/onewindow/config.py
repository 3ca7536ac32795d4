"""Settings, read from the environment (prefix ``ONEWINDOW_``) and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///./var/onewindow.db"
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class Settings(BaseSettings):
    """Every setting of the platform; see docs/operations.md for each one."""

    model_config = SettingsConfigDict(env_prefix="ONEWINDOW_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL: ``sqlite:///path`` (embedded default) or ``postgresql+psycopg://...``."""
    database_pool_size: int = Field(default=10, ge=1)
    sqlite_requests_on_loop: bool = True
    """On SQLite, run each API request's unit of work on the server's event loop instead of handing it to a
    worker thread: SQLite runs one transaction at a time anyway, and the hand-over (and the threads' contention
    for Python's interpreter lock while one of them holds the write lock) costs more than it gains. No effect
    on PostgreSQL, whose transactions run side by side on worker threads."""
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    """How long a process remembers who holds a valid API token (0: ask the database every request). A token
    revoked by another process is honoured within this time; by the same process, at once."""
    match_window_seconds: int = Field(default=7200, ge=0)
    """How long an inspection decision waits for the other agencies."""
    checkin_grace_seconds: int = Field(default=1800, ge=0)
    """How late an agency may check in to an inspection appointment."""
    joint_inspection: bool = True
    """Match the agencies' decisions into joint inspections (the container opened once). Off: the old serial
    way, each agency's decision to inspect gets its own single inspection at once (for comparisons)."""
    clock_speed: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    """Simulated seconds per real second (1: real time). Above 1 the platform runs on an accelerated clock, so
    match windows and check-in grace pass at that rate (the traffic simulator uses it)."""
    clock_start: datetime | None = None
    """The time the clock shows when the process starts (ISO 8601 with offset); default: the real time.
    Setting it (even at speed 1) runs the platform on simulated time."""
    inspection_catalogue: Path | None = None
    """A CSV file replacing the shipped inspection catalogue (see docs/reference-data.md)."""
    embedded_scheduler: bool = True
    """Run the deadline scheduler and the webhook relay with ``onewindow serve`` (turn off when ``onewindow
    worker`` runs them)."""
    scheduler_thread: bool = True
    """With ``embedded_scheduler``: each server process runs the deadline scheduler in a thread of its own.
    ``onewindow serve --workers N`` turns it off in its worker processes and runs the scheduler in one process
    of its own beside them (each worker still runs the webhook relay); not meant to be set by hand."""
    scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    """How often the scheduler looks for deadlines that have passed."""
    broker_url: str | None = None
    """AMQP URL of a RabbitMQ broker (e.g. amqp://guest:guest@127.0.0.1:5672/); events are published there
    when set. Off by default."""
    broker_exchange: str = "onewindow.events"
    """The topic exchange events are published to, with routing key ``<event type>.<office>``."""
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = []
    """Host names, IP addresses or networks (CIDR) that webhooks may reach although they are internal
    (loopback, private, link-local...); comma-separated or a JSON list. Empty: no internal address at all."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long one webhook request may take before it counts as failed."""
    webhook_give_up_seconds: float = Field(default=86400.0, gt=0)
    """How long a delivery is retried (from its first attempt) before it is given up."""
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0)
    """The first retry delay; it doubles with every failed attempt (with jitter), up to the maximum."""
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_disable_after_failures: int = Field(default=50, ge=1)
    """Consecutive failed attempts after which a subscription is disabled (its owner re-enables it)."""
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0, le=720)
    """After a webhook's secret is rotated, how long requests are signed with the old secret too."""
    webhook_relay_interval_seconds: float = Field(default=1.0, gt=0)
    """How often the webhook relay looks for new events and due retries."""
    webhook_batch_size: int = Field(default=250, ge=1)
    """Deliveries one relay round claims and sends at once."""
    clearance_timezone: str = "Asia/Shanghai"
    """The time zone of the clearance-time study: the day and week a consignment counts in."""
    clearance_min_group: int = Field(default=5, ge=1)
    """Published clearance-time figures of a group with fewer consignments than this are suppressed."""
    clearance_refresh_seconds: float = Field(default=600.0, gt=0)
    """The scheduler recomputes a published clearance-time answer older than this once the study has changed
    (docs/clearance-times.md, "How fresh")."""
    clearance_max_age_seconds: float = Field(default=3600.0, gt=0)
    """A published answer older than this, of a study that has changed since, is not served: the request
    computes the figures itself (and publishes them). At least ``clearance_refresh_seconds``."""
    clearance_asked_days: float = Field(default=7.0, gt=0)
    """A query asked through the public endpoint or page is kept published this many days after it was last
    asked (the standard set is always kept)."""
    clearance_asked_limit: int = Field(default=200, ge=0)
    """At most this many asked queries are kept published (the most recently asked)."""
    session_hours: float = Field(default=12.0, gt=0)
    """How long a web sign-in lasts without use (each use extends it by as much)."""
    session_retention_days: float = Field(default=30.0, gt=0)
    """Expired or revoked web sessions are deleted this long after they ended."""
    sign_in_attempts: int = Field(default=5, ge=1)
    """Wrong passwords in a row after which a user's web sign-in is paused."""
    sign_in_pause_minutes: float = Field(default=15.0, gt=0)
    """How long a user's web sign-in is paused after too many wrong passwords."""
    session_cookie_secure: bool = False
    """Send the web session cookie over HTTPS only (turn on behind TLS)."""
    default_time_zone: str = "Asia/Shanghai"
    """The time zone pages show dates in until a user chooses another."""
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _a_database_the_platform_runs_on(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError("is not a database URL (sqlite:///path or postgresql://user@host/db)") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"names {backend!r}: the platform runs on SQLite (sqlite:///path) or PostgreSQL "
                             "(postgresql://user@host/db)")
        return value

    @field_validator("broker_url")
    @classmethod
    def _an_amqp_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
                raise ValueError("is not an AMQP URL (amqp://user:password@host:5672/)")
        return value

    @field_validator("default_time_zone", "clearance_timezone")
    @classmethod
    def _a_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone of the IANA database, e.g. Asia/Shanghai") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _a_log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("clock_start")
    @classmethod
    def _aware_start(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the clock start with its offset, e.g. 2026-03-02T08:00:00+08:00")
        return value

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value):
        """Accept ``a,b`` as well as a JSON list from the environment; each entry a host, an IP or a CIDR."""
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else value.split(",")
        entries = [str(v).strip() for v in value if str(v).strip()]
        if bad := [entry for entry in entries if not _host_or_network(entry)]:
            raise ValueError(f"{', '.join(map(repr, bad))}: neither a host name, an IP address nor a network "
                             "(CIDR)")
        return entries

    @field_validator("webhook_retry_max_seconds")
    @classmethod
    def _no_shorter_than_the_first_retry(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("webhook_retry_base_seconds")
        if base is not None and value < base:
            raise ValueError(f"must be at least ONEWINDOW_WEBHOOK_RETRY_BASE_SECONDS ({base:g}), the first "
                             "retry's delay")
        return value

    @model_validator(mode="after")
    def _publication_ages(self) -> Settings:
        if self.clearance_max_age_seconds < self.clearance_refresh_seconds:
            raise ValueError("clearance_max_age_seconds must be at least clearance_refresh_seconds (a publication "
                             "would stop being served before the scheduler refreshes it)")
        return self


HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")
"""A host name as webhooks may name one (labels of letters, digits, ``-`` and ``_``, as container names have)."""


def _host_or_network(entry: str) -> bool:
    """A host name (not all digits and dots: that is an address), an IP address or a network in CIDR."""
    try:
        ipaddress.ip_network(entry, strict=False)
        return True
    except ValueError:
        return HOST_NAME.fullmatch(entry) is not None and not re.fullmatch(r"[\d.]+", entry)


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once; :class:`InvalidSettings` names each bad ``ONEWINDOW_*`` value."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(exc) from None


class InvalidSettings(Exception):
    """Settings the environment (or ``.env``) gives that are not valid: ``problems`` are (the variable's name,
    what is wrong) pairs, the name as the operator sets it (``ONEWINDOW_...``)."""

    def __init__(self, error: ValidationError) -> None:
        prefix = Settings.model_config["env_prefix"]
        self.problems = [(prefix + ".".join(str(part) for part in e["loc"]).upper() if e["loc"] else "settings",
                          e["msg"].removeprefix("Value error, ")) for e in error.errors(include_url=False)]
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.problems))
