"""Fixtures: every database test runs on SQLite and on PostgreSQL, against a schema built by the migrations.

PostgreSQL is taken from ``ONEWINDOW_TEST_POSTGRES_URL`` (default the local
server on 127.0.0.1:5432); each test worker gets a database of its own. When
no server answers, the PostgreSQL runs skip with a message, unless
``ONEWINDOW_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from onewindow.app import create_app
from onewindow.clock import FrozenClock
from onewindow.config import Settings
from onewindow.context import Context
from onewindow.db import make_engine, make_session_factory, unit_of_work
from onewindow.migrate import upgrade
from onewindow.models import Base

# Timing belongs in benchmarks: no per-example deadline (CI machines are shared and loaded).
hypothesis_settings.register_profile("onewindow", deadline=None)
hypothesis_settings.load_profile("onewindow")

PG_URL = os.environ.get("ONEWINDOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("ONEWINDOW_REQUIRE_SERVICES") == "1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def service_unavailable(what: str, error: Exception) -> None:
    """Skip (or fail when services are required) because ``what`` does not answer."""
    message = f"{what} is not reachable ({error.__class__.__name__}: {str(error).splitlines()[0]})"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and ONEWINDOW_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def _postgres_database(prefix: str = "onewindow_test") -> str:
    """Create a fresh database for this worker (named from ``prefix``) and return its URL."""
    admin_url = make_url(PG_URL)
    name = f"{prefix}_{_worker()}_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any connection failure means "not reachable"
        service_unavailable(f"PostgreSQL at {admin_url.render_as_string()}", error)
    finally:
        admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(url: str) -> None:
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of its own (no schema), dropped after the test: for servers the test starts."""
    url = _postgres_database("onewindow_own")
    yield url
    _drop_postgres_database(url)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory) -> Iterator[Engine]:
    """An empty migrated SQLite database of the module's own, for the plans of statements (``tests/plans.py``)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'onewindow.db'}"
        return
    url = _postgres_database()
    yield url
    _drop_postgres_database(url)


@pytest.fixture(scope="session")
def engine(database_url) -> Iterator[Engine]:
    eng = make_engine(database_url, pool_size=5)
    upgrade(eng)
    yield eng
    eng.dispose()


def _wipe(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def db(engine) -> Iterator[Engine]:
    """A migrated database, emptied after the test (tests commit for real)."""
    yield engine
    _wipe(engine)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, embedded_scheduler=False)  # tests drive deadlines themselves


@pytest.fixture
def app(db, settings, clock):
    return create_app(settings, clock=clock, engine=db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def run(db, settings, clock):
    """Run ``fn(ctx)`` in its own committed unit of work (optionally as an organisation code)."""
    from onewindow.parties.service import actor_for

    factory = make_session_factory(db)

    def _run(fn, as_org: str | None = None):
        with unit_of_work(factory) as session:
            ctx = Context(session=session, clock=clock, settings=settings)
            if as_org:
                ctx = Context(session=session, clock=clock, settings=settings, actor=actor_for(ctx, as_org))
            return fn(ctx)

    return _run


ENTERPRISE = "91210200MA0QK1P3AF"
OTHER_ENTERPRISE = "91210211MA0XY7L2XK"


class World:
    """The parties of a port: two customs offices, a CIQ office, a terminal, two enterprises, an admin."""

    ORGS = [
        ("customs", "0916", "大窑湾海关", None),
        ("customs", "0900", "大连海关", None),
        ("ciq", "210600", "大窑湾检验检疫", None),
        ("ciq", "210000", "辽宁检验检疫", None),
        ("terminal", "DCT", "大连集装箱码头", "CNDAG"),
        ("enterprise", ENTERPRISE, "大连远洋食品贸易有限公司", None),
        ("enterprise", OTHER_ENTERPRISE, "大连港通报关有限公司", None),
        ("admin", "PORTOFFICE", "口岸办", None),
    ]

    def __init__(self, run) -> None:
        from onewindow.parties.service import add_organisation, ensure_user, issue_token

        self.tokens: dict[str, str] = {}

        def setup(ctx):
            for kind, code, name, port in self.ORGS:
                org = add_organisation(ctx, kind=kind, code=code, name=name, port=port)
                self.tokens[code] = issue_token(ctx, ensure_user(ctx, org, "staff"))

        run(setup)
        self._run = run

    def headers(self, code: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[code]}"}

    def token_with_role(self, code: str, user: str, role: str) -> dict[str, str]:
        """Headers of another user of ``code`` with ``role``."""
        from onewindow.parties.service import ensure_user, get_organisation_by_code, issue_token

        token = self._run(lambda ctx: issue_token(ctx, ensure_user(ctx, get_organisation_by_code(ctx, code),
                                                                   user, role)))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(run) -> World:
    return World(run)


RABBITMQ_URL = os.environ.get("ONEWINDOW_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """A reachable RabbitMQ (skips, or fails when services are required, otherwise)."""
    import socket

    url = make_url(RABBITMQ_URL.replace("amqp://", "postgresql://", 1))  # only to read host and port
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5672), timeout=3).close()
    except OSError as error:
        service_unavailable(f"RabbitMQ at {url.host}:{url.port}", error)
    return RABBITMQ_URL
