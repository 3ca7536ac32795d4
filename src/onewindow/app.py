"""The ASGI application: API under ``/api/v1``, pages at ``/`` (see ``onewindow.web``)."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi._body_limit import wrap_app_with_body_limit
from fastapi.routing import APIRoute, request_response
from sqlalchemy import Engine, text
from starlette.routing import Match
from starlette.types import Scope

from onewindow import __version__
from onewindow.clock import Clock, clock_from_settings
from onewindow.config import Settings, get_settings
from onewindow.db import make_engine, make_session_factory
from onewindow import route_index
from onewindow.dispatch import plan_of, route_app
from onewindow.http import Anyone, install_error_handlers, shutdown_threads
from onewindow.scheduler import Scheduler

API = "/api/v1"


def api_routers() -> tuple[APIRouter, ...]:
    """The routers of the API, in the order their routes are matched."""
    from onewindow.events.api import router as events_router
    from onewindow.events.webhooks_api import router as webhooks_router
    from onewindow.filings.api import router as filings_router
    from onewindow.inspections.api import router as inspections_router
    from onewindow.releases.api import router as releases_router
    from onewindow.parties.api import router as parties_router
    from onewindow.refdata.api import router as refdata_router
    from onewindow.timing.api import router as timing_router

    return (parties_router, filings_router, inspections_router, releases_router, events_router, webhooks_router,
            refdata_router, timing_router)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               engine: Engine | None = None) -> FastAPI:
    """Build the application; tests pass their own clock and engine."""
    from onewindow.filings.api import ENTRY_DEFS

    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url, pool_size=settings.database_pool_size)
    app = FastAPI(title="OneWindow", version=__version__, lifespan=_lifespan,
                  description="A trade Single Window: one declaration, one inspection, one release.")
    app.state.settings = settings
    app.state.clock = clock or clock_from_settings(settings)
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)
    for router in api_routers():
        add_routes(app, router, API)

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

    route_index.install(app.router)
    return app


class ApiRoute(APIRoute):
    """An API route that passes over a request whose path cannot be its own at a glance, without matching it in
    full: a request passes some 30 routes before its own, and each now costs one look at the path instead of
    FastAPI's and Starlette's full match. A path that cannot be the route's lacks the route's literal beginning
    (its path up to the first parameter) or does not end with its literal end (its path after the last one).

    The path a route matches is the request's path, or its end when the application is served under a
    root path: a path that lacks the literal beginning or ends otherwise matches no route with them.

    A route with a body reads it as JSON with :func:`request_json` (:class:`ApiRequest`). A route of the shape
    the API's routes have answers with its plan of FastAPI's handler (``plan``, :mod:`onewindow.dispatch`),
    handing to FastAPI's own handler what only FastAPI does (dependency overrides, observed requests).
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        self.literal_beginning = path.split("{", 1)[0]
        self.literal_end = path.rsplit("}", 1)[-1]
        self.plan = plan_of(self, ApiRequest)
        if self.plan is not None:
            general = request_response(self.get_route_handler())
            self.app = wrap_app_with_body_limit(route_app(self.plan, general, self.dependency_overrides_provider),
                                                self.max_body_size)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope["path"]
        if self.literal_beginning not in path or not path.endswith(self.literal_end):
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:  # FastAPI never reads the body as JSON
            return handler

        async def with_json_body(request: Request) -> Response:
            return await handler(ApiRequest(request.scope, request.receive))

        return with_json_body


class ApiRequest(Request):
    """A request whose JSON body is read with :func:`request_json` (FastAPI's custom ``Request`` pattern)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = request_json(await self.body())
        return self._json


_DIGITS = bytes(ord("1") if chr(byte).isdigit() and byte < 128 else ord("0") for byte in range(256))
"""A byte's digit-ness: ``body.translate(_DIGITS)`` holds ``1`` where the body holds a digit, ``0`` elsewhere."""
_LONG_NUMBER = b"1" * 19
"""19 digits in a row: where an integer beyond 64 bits may be (orjson reads it as a float). A byte table and a
substring search find them in a tenth of the time of the regular expression ``[0-9]{19}``."""


def request_json(body: bytes) -> Any:
    """``json.loads(body)``, the standard library's answer in every case, read with orjson where orjson gives
    the same value (several times faster on entries).

    orjson gives the standard library's values for every document it accepts except integers beyond 64 bits,
    which it reads as floats (they have 19 digits or more: such a body goes to the standard library). It
    refuses some documents the standard library accepts (``NaN``, ``Infinity``, numbers beyond the floats,
    lone surrogates, a byte order mark, other encodings than UTF-8): whatever it refuses goes to the standard
    library, which answers or raises exactly as before (the refusal of malformed JSON is unchanged).
    """
    if _LONG_NUMBER not in body.translate(_DIGITS):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


def add_routes(app: FastAPI, router: APIRouter, prefix: str) -> None:
    """Add the routes of ``router`` to the application itself, under ``prefix``: what ``include_router`` did
    before FastAPI 0.137, and how the API's routes and the pages' are matched.

    ``include_router`` now keeps the router as one node of the application's routes: a request is matched
    against every route of each router before its own, and the router that holds its route matches it a
    second time to handle it, some 20 function calls per route passed (800 for a request to the third
    router). A route of the application itself is matched once, by its path, and an :class:`ApiRoute`
    passes over a path that cannot be its own at a glance. Each route is added with all its own settings
    (a router's tags, dependencies and responses are already part of its routes), so the routes, their
    OpenAPI operations and their answers are those ``include_router`` gives. A plain ``APIRoute`` becomes
    an :class:`ApiRoute`; a route of a class of the router's own (the pages' ``PageRoute``) keeps its class.
    Settings that apply to a router as a whole (body and form limits, its own start-up, shut-down and
    lifespan, pages served from a folder), routers included in the router, and streamed answers are
    refused, not dropped.
    """
    if router.max_body_size is not None or router.form_limits or router.on_startup or router.on_shutdown \
            or type(router.lifespan_context) is not type(APIRouter().lifespan_context) \
            or router._low_priority_routes:
        raise ValueError(f"{router.tags}: a router with settings of its own is included, not added route by route")
    for route in router.routes:
        if not isinstance(route, APIRoute) or route.form_limits or route.stream_item_type or route.is_json_stream \
                or route.is_sse_stream:
            raise ValueError(f"{route}: only plain API routes are added route by route")
        route_class = ApiRoute if type(route) is APIRoute else type(route)
        app.router.add_api_route(
            prefix + route.path, route.endpoint, response_model=route.response_model,
            status_code=route.status_code, tags=route.tags, dependencies=route.dependencies,
            summary=route.summary, description=route.description,
            response_description=route.response_description, responses=route.responses,
            deprecated=route.deprecated, methods=route.methods, operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema, response_class=route.response_class, name=route.name,
            callbacks=route.callbacks, openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type, max_body_size=route.max_body_size,
            route_class_override=route_class)


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
    """Start the webhook relay and the deadline scheduler with the server: neither when ``embedded_scheduler``
    is off, the relay alone when ``scheduler_thread`` is (the scheduler then runs in a process of its own)."""
    from onewindow.events.relay import Relay

    state, settings = app.state, app.state.settings
    threads = []
    if settings.embedded_scheduler:
        threads.append(Relay(state.session_factory, state.clock, settings))
        if settings.scheduler_thread:
            threads.append(Scheduler(state.session_factory, state.clock, settings))
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
