"""The route class of every page router: errors become pages, not JSON.

* :class:`~onewindow.web.page.LoginRequired` → 303 to ``/login?next=<path>``
  (htmx requests get ``HX-Redirect`` so the whole page follows);
* :class:`~onewindow.errors.AppError` → the error page with the error's status
  (403 for a role that may see a record but not act is shown as 404 on pages,
  like everything the caller may not see);
* a query parameter or form field the route's declaration refuses (a hand-typed
  ``?offset=abc``, a form posted without a field) → the error page, 422, naming
  each by its place and name, in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from onewindow.errors import AppError, Forbidden, Text, ValidationFailed, pydantic_details
from onewindow.web import i18n
from onewindow.web.labels import N_
from onewindow.web.page import LoginRequired, Page


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except AppError as error:
                return error_page(request, error)
            except RequestValidationError as invalid:
                return error_page(request, _page_of(request).localise(refused(invalid)))

        return route


def page_router(**kwargs) -> APIRouter:
    """An ``APIRouter`` for pages (HTML errors, left out of the OpenAPI document)."""
    return APIRouter(route_class=PageRoute, include_in_schema=False, **kwargs)


def joined(*routers: APIRouter) -> APIRouter:
    """One page router holding the routes of ``routers``, in their order, each route as its router made it
    (its path with that router's prefix): the routes ``include_router`` would give, held by the router itself,
    so that the application adds them as its own (:func:`onewindow.app.add_routes`)."""
    router = page_router()
    for part in routers:
        router.routes.extend(part.routes)
    return router


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = request.headers.get("HX-Current-URL") or "/"
    url = f"/login?next={quote(target, safe='/')}"
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _page_of(request: Request) -> Page:
    return getattr(request.state, "page", None) or Page(request, None)


PARAMETER_PROBLEMS: dict[str, str] = {
    "missing": N_("is required"),
    "int_parsing": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "greater_than_equal": N_("must be at least {ge}"),
    "less_than_equal": N_("must be at most {le}"),
    "string_too_long": N_("must be at most {max_length} characters"),
    "string_type": N_("must be text"),
}
"""What a page says of a parameter the route refuses, by Pydantic's error type (any other: Pydantic's
message)."""

PLACES = {"query": Text("address"), "body": Text("form"), "path": Text("address"), "header": Text("header"),
          "cookie": Text("cookie")}


def refused(invalid: RequestValidationError) -> ValidationFailed:
    """The parameters a route refused, as a 422 naming each (``loc`` ``[place, name]``, e.g.
    ``["query", "offset"]``) with a message pages translate."""
    details = pydantic_details(list(invalid.errors()), strip=())
    for detail, err in zip(details, invalid.errors(), strict=True):
        template = PARAMETER_PROBLEMS.get(err.get("type", ""))
        if template is not None:
            detail["msg"] = Text(template, **{k: v for k, v in (err.get("ctx") or {}).items()
                                                if isinstance(v, int | str)})
    return ValidationFailed(details)


def _details(error: AppError, language: str) -> list[dict[str, Any]]:
    """What a 422's page lists: each refused field's place (when its path starts with one), name and problem."""
    if not isinstance(error, ValidationFailed):
        return []
    out = []
    for detail in error.details:
        loc = [str(part) for part in detail.get("loc") or ()] if isinstance(detail, dict) else []
        if not loc:
            continue
        place = PLACES.get(loc[0]) if len(loc) > 1 else None
        out.append({"place": i18n.message_text(place, language) if place else "",
                    "name": ".".join(loc[1:] if place else loc), "msg": detail.get("msg", "")})
    return out


def error_page(request: Request, error: AppError) -> Response:
    page = _page_of(request)
    status = 404 if isinstance(error, Forbidden) else error.status
    return page.render("errors/error.html", {"status": status, "message": error.message, "code": error.code,
                                             "details": _details(error, page.language)}, status=status)
