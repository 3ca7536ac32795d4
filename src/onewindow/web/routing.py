"""The route class of every page router: errors become pages, not JSON.

* :class:`~onewindow.web.page.LoginRequired` → 303 to ``/login?next=<path>``
  (htmx requests get ``HX-Redirect`` so the whole page follows);
* :class:`~onewindow.errors.AppError` → the error page with the error's status
  (403 for a role that may see a record but not act is shown as 404 on pages,
  like everything the caller may not see).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from onewindow.errors import AppError, Forbidden
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


def error_page(request: Request, error: AppError) -> Response:
    page: Page = getattr(request.state, "page", None) or Page(request, None)
    status = 404 if isinstance(error, Forbidden) else error.status
    return page.render("errors/error.html", {"status": status, "message": error.message, "code": error.code},
                       status=status)
