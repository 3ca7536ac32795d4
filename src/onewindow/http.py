"""HTTP plumbing shared by every router: the unit of work, the caller, the error shape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from onewindow.context import Context
from onewindow.db import unit_of_work
from onewindow.errors import AppError, Unauthenticated, ValidationFailed, pydantic_details
from onewindow.parties.service import authenticate

log = logging.getLogger("onewindow")


def _session(request: Request) -> Iterator:
    with unit_of_work(request.app.state.session_factory) as session:
        yield session


async def _base_context(request: Request, session=Depends(_session, scope="function")) -> Context:
    # async: it does no I/O, so it runs on the event loop instead of taking a thread-pool hop
    state = request.app.state
    return Context(session=session, clock=state.clock, settings=state.settings)


_bearer = HTTPBearer(auto_error=False, description="An API token from `onewindow token add`.")


def _authenticated(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                   ctx: Context = Depends(_base_context, scope="function")) -> Context:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    return Context(session=ctx.session, clock=ctx.clock, settings=ctx.settings,
                   actor=authenticate(ctx, credentials.credentials.strip()))


AuthContext = Annotated[Context, Depends(_authenticated, scope="function")]
"""A unit of work acting as the authenticated caller (401 without a valid bearer token)."""
PublicContext = Annotated[Context, Depends(_base_context, scope="function")]
"""A unit of work with no caller (public endpoints)."""


def _error(status: int, code: str, message: str, details: list | None = None, headers=None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or []}},
                        status_code=status, headers=headers)


def app_error_response(exc: AppError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return _error(exc.status, exc.code, exc.message, exc.details, headers)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as ``{"error": {"code", "message", "details"}}``."""

    @app.exception_handler(AppError)
    async def app_error(_request, exc: AppError):
        return app_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request, exc: RequestValidationError):
        errors = list(exc.errors())
        for err in errors:
            if tuple(err.get("loc", ())) == ("body",) and err.get("type") == "missing":
                err["msg"] = "a JSON body is required"
        details = pydantic_details(errors)
        for d in details:
            if d["type"] == "json_invalid":
                d["loc"], d["msg"] = ["body"], "the body is not valid JSON"
        return app_error_response(ValidationFailed(details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def integrity(_request, _exc):
        return _error(409, "concurrent_change", "a concurrent request changed the same record; retry")

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):
        log.exception("unexpected error", exc_info=exc)
        return _error(500, "internal_error", "an unexpected error occurred; it has been logged")

    @app.exception_handler(OperationalError)
    async def db_unavailable(_request, _exc):
        return _error(503, "database_unavailable", "the database is busy or unavailable; retry")
