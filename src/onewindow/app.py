"""The ASGI application: API under ``/api/v1``, pages at ``/`` (see ``onewindow.web``)."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine, text

from onewindow import __version__
from onewindow.clock import Clock, clock_from_settings
from onewindow.config import Settings, get_settings
from onewindow.db import make_engine, make_session_factory
from onewindow.http import Anyone, install_error_handlers, shutdown_threads
from onewindow.scheduler import Scheduler

API = "/api/v1"


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               engine: Engine | None = None) -> FastAPI:
    """Build the application; tests pass their own clock and engine."""
    from onewindow.events.api import router as events_router
    from onewindow.events.webhooks_api import router as webhooks_router
    from onewindow.filings.api import ENTRY_DEFS
    from onewindow.filings.api import router as filings_router
    from onewindow.inspections.api import router as inspections_router
    from onewindow.releases.api import router as releases_router
    from onewindow.parties.api import router as parties_router
    from onewindow.refdata.api import router as refdata_router
    from onewindow.timing.api import router as timing_router

    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url, pool_size=settings.database_pool_size)
    app = FastAPI(title="OneWindow", version=__version__, lifespan=_lifespan,
                  description="A trade Single Window: one declaration, one inspection, one release.")
    app.state.settings = settings
    app.state.clock = clock or clock_from_settings(settings)
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)
    for router in (parties_router, filings_router, inspections_router, releases_router, events_router,
                   webhooks_router, refdata_router, timing_router):
        app.include_router(router, prefix=API)

    _with_components(app, ENTRY_DEFS)
    from onewindow.web import mount as mount_pages

    mount_pages(app)

    @app.get("/healthz", tags=["operations"])
    async def health(caller: Anyone) -> dict[str, str | float | bool]:
        """Liveness and database reachability, with the platform's time, its clock speed (simulated seconds
        per real second) and whether decisions are matched into joint inspections."""
        await caller.run_public(lambda ctx: ctx.session.execute(text("SELECT 1")))
        return {"status": "ok", "time": app.state.clock.now().isoformat(),
                "clock_speed": getattr(app.state.clock, "speed", 1.0),
                "joint_inspection": app.state.settings.joint_inspection}

    return app


COLLECTOR_THRESHOLDS = (10_000, 20, 20)
"""Python's cyclic garbage collector in a server: a young collection every 10,000 allocations net (700 by
default), so requests, which make many short-lived objects and few cycles, do not trigger hundreds of them."""


def served_app() -> FastAPI:
    """The application as ``onewindow serve`` runs it: :func:`create_app`, then the objects made at start-up
    (routes, schemas, reference tables) frozen out of the collector's sight and its thresholds raised."""
    app = create_app()
    settle_collector()
    return app


def settle_collector() -> None:
    """Collect once, freeze what survives (start-up objects, never garbage) and raise the collector's
    thresholds to :data:`COLLECTOR_THRESHOLDS`: what a serving process does once it has started."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Start the deadline scheduler and the webhook relay with the server (unless ``embedded_scheduler`` is off)."""
    from onewindow.events.relay import Relay

    threads = []
    if app.state.settings.embedded_scheduler:
        threads = [Scheduler(app.state.session_factory, app.state.clock, app.state.settings),
                   Relay(app.state.session_factory, app.state.clock, app.state.settings)]
        for thread in threads:
            thread.start()
    yield
    for thread in threads:
        thread.stop()
    shutdown_threads(app.state)


def _with_components(app: FastAPI, schemas: dict) -> None:
    """Add schemas that routes reference by hand (the raw entry body) to the OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict:
        doc = generate()
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in schemas.items():
            components.setdefault(name, schema)
        return doc

    app.openapi = openapi
