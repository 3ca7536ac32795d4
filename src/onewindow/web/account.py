"""Signing in and out, the home page, and the reader's language and time zone."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import Form, Request
from fastapi.responses import Response
from starlette.routing import Match

from onewindow.context import Context
from onewindow.models import OrgKind
from onewindow.parties.permissions import Permission
from onewindow.parties.service import sign_in
from onewindow.web import i18n
from onewindow.web.page import SESSION_COOKIE, AsPage
from onewindow.web.routing import PageRoute, page_router
from onewindow.web.sessions import end_session, start_session

router = page_router()
YEAR = 365 * 24 * 3600

HOME_BY_KIND = {
    OrgKind.enterprise.value: ("/enterprise/filings", Permission.filing_read),
    OrgKind.customs.value: ("/customs/declarations", Permission.declaration_read),
    OrgKind.ciq.value: ("/ciq/declarations", Permission.declaration_read),
    OrgKind.terminal.value: ("/terminal/tasks", Permission.terminal_operate),
}
"""Where each kind of organisation lands after signing in (its daily work), when the user's role may see that
page; everyone else sees the home page."""


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/", name="home")
async def home(page: AsPage) -> Response:
    """The signed-in user's start: their area's first page, or an overview of what they may do."""
    await page.run(lambda ctx: None)
    assert page.viewer is not None
    target, needed = HOME_BY_KIND.get(page.viewer.org_kind, (None, None))
    if target and page.viewer.can(needed):
        return page.redirect(target)
    return page.render("home/index.html")


@router.get("/login", name="login")
async def login_form(page: AsPage, next: str = "/") -> Response:
    return page.render("account/login.html", {"next": safe_next(next), "form": {}, "failed": False})


@router.post("/login")
async def login(page: AsPage, organisation: Annotated[str, Form()] = "", user: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    """Check the password; on success a new session cookie (HttpOnly, SameSite=Lax) and a redirect; 400 with
    the form again when wrong, 429 (with ``Retry-After``) while the user's sign-in is paused after too many
    wrong passwords."""

    def attempt(ctx: Context) -> tuple[str | None, datetime | None]:
        outcome = sign_in(ctx, organisation, user, password)
        return (start_session(ctx, outcome.user)[0] if outcome.user else None), outcome.paused_until

    token, paused_until = await page.run_public(attempt)
    if token is None:
        form = {"next": safe_next(next), "failed": True, "paused_until": paused_until,
                "form": {"organisation": organisation, "user": user}}
        if paused_until is None:
            return page.render("account/login.html", form, status=400)
        wait = max(1, math.ceil((paused_until - page.state.clock.now()).total_seconds()))
        response = page.render("account/login.html", form, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    response = page.redirect(safe_next(next))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
                        secure=page.state.settings.session_cookie_secure)
    return response


@router.post("/logout", name="logout")
async def logout(page: AsPage) -> Response:
    """Revoke the session and forget the cookie."""
    await page.run(lambda ctx: end_session(ctx, page.token))
    response = page.redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def back_page(request: Request, back: str) -> str:
    """The page to go back to from ``back``: always a local address that a page answers with GET.

    ``back`` is a local path (with its query), or an address of this site as a ``Referer`` gives it
    (``http://host/path?query``, the same host as ``request``'s); anything else is ``/``. A path that no page
    answers with GET (an action's address such as ``/customs/declarations/<id>/accept``, where a refusal is
    shown) is walked up one segment at a time to the nearest one that does (``/customs/declarations/<id>``),
    without its query; ``/`` when none does.
    """
    parts = urlsplit(back)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc != request.headers.get("host"):
            return "/"
    if safe_next(parts.path) != parts.path:
        return "/"
    segments = parts.path.rstrip("/").split("/")
    query = f"?{parts.query}" if parts.query else ""
    while len(segments) > 1:
        path = "/".join(segments)
        if _page_answers_get(request, path):
            return path + query
        segments.pop()
        query = ""
    return "/"


def _page_answers_get(request: Request, path: str) -> bool:
    """Whether a page route (not an API route, not a static file) answers GET at ``path``."""
    scope = {"type": "http", "method": "GET", "path": unquote(path), "root_path": ""}
    return any(isinstance(route, PageRoute) and route.matches(scope)[0] is Match.FULL
               for route in request.app.router.routes)


@router.post("/preferences", name="preferences")
async def preferences(page: AsPage, language: Annotated[str | None, Form()] = None,
                      zone: Annotated[str | None, Form()] = None,
                      back: Annotated[str, Form()] = "/") -> Response:
    """Remember the reader's language and time zone (cookies, a year); back to the page they were on (see
    :func:`back_page`: never an address that only takes a form, nor another site)."""
    await page.run_optional(lambda ctx: None)
    response = page.redirect(back_page(page.request, back))
    secure = page.state.settings.session_cookie_secure
    if language in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, language, max_age=YEAR, samesite="lax", path="/", secure=secure)
    if zone and zone == i18n.zone_of(zone, "UTC").key:
        response.set_cookie(i18n.ZONE_COOKIE, zone, max_age=YEAR, samesite="lax", path="/", secure=secure)
    return response
