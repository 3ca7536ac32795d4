"""HTTP plumbing shared by every router: the unit of work, the caller, the error shape."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from onewindow.context import Context
from onewindow.db import RunAgain, in_unit_of_work
from onewindow.errors import AppError, Unauthenticated, ValidationFailed, field_error, pydantic_details
from onewindow.parties.service import authenticate

log = logging.getLogger("onewindow")
T = TypeVar("T")

MAX_OFFSET = 1_000_000_000
"""The largest ``offset`` a list takes: far past any list the platform serves, and within the databases'
integers (a larger number would reach SQLite as more than its 64 bits)."""
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
"""A list's ``offset`` query parameter: 422 naming it when negative or past :data:`MAX_OFFSET`."""


@dataclass(frozen=True)
class Caller:
    """Who is calling, and the means to run one unit of work for them.

    ``run(fn)`` takes one hop to the thread pool (on SQLite, by default, it runs
    on the event loop: :func:`on_loop`) and there opens a session,
    authenticates the token (401 when missing or unknown), calls ``fn(ctx)``
    and commits before anything is answered; any error rolls everything back
    (a transaction the database aborted to settle a conflict with a concurrent
    one is run again: :func:`onewindow.db.in_unit_of_work`).
    ``then``, when given, turns ``fn``'s result into the answer on the same
    thread once the transaction has ended (work that needs no database, done
    outside it so that SQLite's write lock is held no longer than needed).
    """

    state: Any
    token: str | None
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request's headers, for a route that reads one of them itself (see ``onewindow.filings.api``)."""
    safe: bool = False
    """A ``GET`` or ``HEAD`` request, which changes nothing: its unit of work is a read-only one (see
    :func:`onewindow.db.unit_of_work`: on SQLite a snapshot beside every process's writers, any write refused)."""

    async def run(self, fn: Callable[[Context], T], then: Callable[[T], Any] | None = None, *,
                  waits: bool = False) -> Any:
        """``waits``: ``fn`` may wait on something besides the database (a host name looked up), so it runs
        on a worker thread even where units of work otherwise run on the loop."""
        if on_loop(self.state) and not waits:
            return self._run(fn, True, then, self.safe)
        return await in_worker_thread(self.state, self._run, fn, True, then, self.safe)

    async def run_public(self, fn: Callable[[Context], T], *, read_only: bool = False) -> T:
        """``fn(ctx)`` with no actor. ``read_only``: ``fn`` only reads (and may take long), so its unit of work
        is a read-only one (see :func:`onewindow.db.unit_of_work`) on a worker thread."""
        if on_loop(self.state) and not read_only:
            return self._run(fn, False, None)
        return await in_worker_thread(self.state, self._run, fn, False, None, read_only)

    def _run(self, fn: Callable[[Context], T], authenticated: bool, then: Callable[[T], Any] | None,
             read_only: bool = False) -> Any:
        state = self.state

        def work(session: Session) -> T:
            ctx = Context(session, state.clock, state.settings)
            if authenticated:
                ctx = Context(session, state.clock, state.settings, authenticate(ctx, self.token or ""))
            return fn(ctx)

        result = in_unit_of_work(state.session_factory, work, read_only=read_only)
        return result if then is None else then(result)


def on_loop(state: Any) -> bool:
    """Whether units of work run on the event loop itself (``sqlite_requests_on_loop`` on SQLite), decided once
    per application."""
    decided = getattr(state, "units_on_loop", None)
    if decided is None:
        decided = state.units_on_loop = bool(state.settings.sqlite_requests_on_loop
                                             and state.engine.dialect.name == "sqlite")
    return decided


WORKER_THREADS = 40
"""Threads running units of work per application (as many as Starlette's default thread pool)."""


def in_worker_thread(state: Any, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run ``fn(*args)`` on the application's worker threads (with the caller's context variables).

    A plain executor costs a third of what the general-purpose thread pool
    hop costs per request; the executor is made on first use and shut down with the application.
    """
    executor = getattr(state, "executor", None)
    if executor is None:
        executor = state.executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="onewindow-request")
    return asyncio.get_running_loop().run_in_executor(executor, contextvars.copy_context().run, fn, *args)


def shutdown_threads(state: Any) -> None:
    """Let the worker threads end once their work is done (the application stops)."""
    executor = getattr(state, "executor", None)
    if executor is not None:
        state.executor = None
        executor.shutdown(wait=False)


SAFE_METHODS = frozenset({"GET", "HEAD"})
"""The methods of requests that change nothing (RFC 9110, 9.2.1), whose units of work only read."""


class _CallerScheme(HTTPBearer):
    """The caller of a route, read from ``Authorization: Bearer <token>`` in one dependency.

    It is the bearer security scheme itself (the OpenAPI document names it as
    before), so FastAPI solves one dependency per request instead of a
    caller depending on a separate scheme. With ``required`` a request
    without a bearer token answers 401 at once.
    """

    def __init__(self, *, required: bool) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer",
                         description="An API token from `onewindow token add`.")
        self.required = required

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        scope = request.scope
        authorization = None
        for name, value in scope["headers"]:  # what ``request.headers.get("authorization")`` gives, read directly
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        token = _bearer_token(authorization)
        if token is None and self.required:
            raise Unauthenticated("send 'Authorization: Bearer <token>'")
        return Caller(state=scope["app"].state, token=token, headers=request.headers,
                      safe=scope["method"] in SAFE_METHODS)


def _bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent, empty or another scheme."""
    scheme, _, credentials = (authorization or "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    return token or None


AsCaller = Annotated[Caller, Depends(_CallerScheme(required=True))]
"""The authenticated caller (401 at once without a bearer token); ``await caller.run(fn)``."""
Anyone = Annotated[Caller, Depends(_CallerScheme(required=False))]
"""Any caller, for public endpoints; ``await caller.run_public(fn)``."""


class FastJSONResponse(JSONResponse):
    """A JSON answer encoded with orjson (UTF-8, compact, like Starlette's but several times faster)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, code: str, message: str, details: list | None = None, headers=None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or []}},
                        status_code=status, headers=headers)


def app_error_response(exc: AppError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return _error(exc.status, exc.code, exc.message, exc.details, headers)


UNREADABLE_BODY = "There was an error parsing the body"
"""What FastAPI's request handler (and :mod:`onewindow.dispatch`'s) raises, as a 400, for a JSON body it cannot
decode (not UTF-8, nested too deeply): answered as any body that is not JSON, 422 at ``["body"]``."""


def _unreadable(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON: it is not UTF-8 text"
    if isinstance(cause, RecursionError):
        return "the body is not valid JSON: it is nested too deeply"
    return "the body is not valid JSON"


def _not_sent_as_json(content_type: str | None) -> str:
    """The detail of a body that came with another content type than JSON's, and so was not read as JSON."""
    came = f"it came as {content_type!r}" if content_type else "it came without one"
    return f"the body must be JSON, sent with Content-Type: application/json ({came})"


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the application takes at the request's path (a 405's ``Allow``): the
    router answers 405 from the first route matching the path alone, which may take only some of them. Routes
    are the application's own (its routers' routes are added route by route); none found: the router's
    ``Allow`` stands."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as ``{"error": {"code", "message", "details"}}``."""

    @app.exception_handler(AppError)
    async def app_error(_request, exc: AppError):
        return app_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = list(exc.errors())
        unread = set()  # the body itself missing or not read as JSON: named ["body"], as JSON it cannot decode
        for i, err in enumerate(errors):
            if tuple(err.get("loc", ())) == ("body",) and err.get("type") == "missing":
                err["msg"] = "a JSON body is required"
                unread.add(i)
            elif tuple(err.get("loc", ())) == ("body",) and isinstance(err.get("input"), bytes):
                err["msg"] = _not_sent_as_json(request.headers.get("content-type"))
                unread.add(i)
        details = pydantic_details(errors)
        for i, d in enumerate(details):
            if d["type"] == "json_invalid":
                d["loc"], d["msg"] = ["body"], "the body is not valid JSON"
            elif i in unread:
                d["loc"] = ["body"]
        return app_error_response(ValidationFailed(details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and exc.detail == UNREADABLE_BODY:
            return app_error_response(ValidationFailed([field_error(["body"], _unreadable(exc.__cause__))]))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405 and (methods := allowed_methods(request)):
            headers = {**(headers or {}), "Allow": ", ".join(methods)}
        return _error(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(IntegrityError)
    async def integrity(_request, _exc):
        return _error(409, "concurrent_change", "a concurrent request changed the same record; retry")

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):
        log.exception("unexpected error", exc_info=exc)
        return _error(500, "internal_error", "an unexpected error occurred; it has been logged")

    @app.exception_handler(OperationalError)
    @app.exception_handler(RunAgain)  # still so after every attempt: the same answer as a deadlock's
    async def db_unavailable(_request, exc: OperationalError | RunAgain):
        log.warning("database unavailable: %s", getattr(exc, "orig", None) or exc)
        return _error(503, "database_unavailable", "the database is busy or unavailable; retry")
