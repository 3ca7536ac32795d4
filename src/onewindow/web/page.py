"""What every page handler works with: ``page: AsPage``.

``await page.run(fn, need=Permission.x, kinds={OrgKind.enterprise})`` is the
pages' ``caller.run``: one hop to the thread pool, one unit of work (commit on
success, rollback on any error), the signed-in user as the context's actor.
Not signed in: :class:`LoginRequired` (a redirect to ``/login``). A role
without ``need`` or an organisation of another kind: 404, exactly like a record
the caller may not see. Unsafe requests (POST...) must carry the session's
form token (``csrf_token`` field or ``X-CSRF-Token`` header), else 403.

``page.render("area/page.html", {...})`` renders a template in the reader's
language with the helpers every template has (see :mod:`onewindow.web.templating`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from onewindow.context import Actor, Context
from onewindow.db import in_unit_of_work
from onewindow.errors import AppError, NotFound, Text
from onewindow.http import in_worker_thread
from onewindow.models import OrgKind
from onewindow.parties.permissions import Permission
from onewindow.web import i18n
from onewindow.web.sessions import find_session

T = TypeVar("T")
E = TypeVar("E", bound=AppError)
SESSION_COOKIE = "ow_session"
CSRF_COOKIE = "ow_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """The page needs a signed-in user; answered with a redirect to the sign-in page."""


class CsrfFailed(AppError):
    status, code = 403, "csrf_failed"


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as templates see them."""

    user: str
    role: str
    org_code: str
    org_name: str
    org_kind: str
    csrf_token: str

    def can(self, permission: str) -> bool:
        from onewindow.parties.permissions import grants

        return grants(self.role, Permission(permission))


class Page:
    """One page request: language, time zone, the session cookie, and the unit of work to run."""

    def __init__(self, request: Request, submitted_csrf: str | None) -> None:
        self.request = request
        self.state = request.app.state
        self.language = i18n.language_of(request.cookies.get(i18n.LANG_COOKIE))
        self.zone: ZoneInfo = i18n.zone_of(request.cookies.get(i18n.ZONE_COOKIE),
                                           self.state.settings.default_time_zone)
        self.token = request.cookies.get(SESSION_COOKIE)
        self.submitted_csrf = submitted_csrf
        self.viewer: Viewer | None = None
        self.anonymous_csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("HX-Request") == "true"

    @property
    def unsafe(self) -> bool:
        return self.request.method not in SAFE_METHODS

    async def run(self, fn: Callable[[Context], T], *, need: Permission | None = None,
                  kinds: Iterable[OrgKind] | None = None) -> T:
        """Run ``fn(ctx)`` as the signed-in user in one unit of work (see the module docstring)."""
        return await self._in_thread(self._run, fn, need, frozenset(kinds) if kinds else None)

    async def _in_thread(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on the application's worker threads; a domain error comes back in the reader's
        language (its message and field messages, see :func:`onewindow.web.i18n.localise`)."""
        try:
            return await in_worker_thread(self.request.app.state, work, *args)
        except AppError as error:
            raise self.localise(error) from None

    def localise(self, error: E) -> E:
        """``error``'s messages in this page's language."""
        return i18n.localise(error, self.language)

    async def run_public(self, fn: Callable[[Context], T]) -> T:
        """Run ``fn(ctx)`` without an actor (public pages, sign-in); unsafe requests need the cookie's token."""
        if self.unsafe:
            self._check_csrf(self.request.cookies.get(CSRF_COOKIE))
        return await self._in_thread(self._run_public, fn)

    async def run_optional(self, fn: Callable[[Context], T]) -> T:
        """Run ``fn(ctx)`` as the signed-in user when there is one (``ctx.actor`` None otherwise).

        Unsafe requests need the session's form token when signed in, the cookie's token otherwise.
        """
        return await self._in_thread(self._run_optional, fn)

    async def run_reading(self, fn: Callable[[Context], T]) -> T:
        """Run ``fn(ctx)``, which only reads (and may take long), without an actor in a read-only unit of
        work (see :func:`onewindow.db.unit_of_work`); safe requests only."""
        if self.unsafe:
            raise RuntimeError("a read-only unit of work serves safe requests only")
        return await self._in_thread(self._run_public, fn, True)

    def _run_optional(self, fn: Callable[[Context], T]) -> T:
        try:
            return self._run(fn, None, None)
        except LoginRequired:
            if self.unsafe:
                self._check_csrf(self.request.cookies.get(CSRF_COOKIE))
            return self._run_public(fn)

    def _run_public(self, fn: Callable[[Context], T], read_only: bool = False) -> T:
        return in_unit_of_work(self.state.session_factory,
                               lambda session: fn(Context(session=session, clock=self.state.clock,
                                                          settings=self.state.settings)), read_only=read_only)

    def _run(self, fn: Callable[[Context], T], need: Permission | None, kinds: frozenset[OrgKind] | None) -> T:
        return in_unit_of_work(self.state.session_factory, lambda session: self._as_viewer(session, fn, need, kinds))

    def _as_viewer(self, session: Session, fn: Callable[[Context], T], need: Permission | None,
                   kinds: frozenset[OrgKind] | None) -> T:
        """``fn`` run for the signed-in user in ``session`` (the page's unit of work)."""
        ctx = Context(session=session, clock=self.state.clock, settings=self.state.settings)
        row = find_session(ctx, self.token)
        if row is None:
            raise LoginRequired()
        user = row.user
        actor = Actor(organisation=user.organisation, user=user, role=user.role)
        self.viewer = Viewer(user=user.name, role=user.role, org_code=actor.organisation.code,
                             org_name=actor.organisation.name, org_kind=actor.kind.value,
                             csrf_token=row.csrf_token)
        if self.unsafe:
            self._check_csrf(row.csrf_token)
        if (need and not actor.can(need)) or (kinds and actor.kind not in kinds):
            raise NotFound("this page was not found")
        return fn(replace(ctx, actor=actor))

    def _check_csrf(self, expected: str | None) -> None:
        if not expected or not self.submitted_csrf or not hmac.compare_digest(expected, self.submitted_csrf):
            # localised here: a public form's token is checked before its unit of work, outside ``_in_thread``
            raise self.localise(CsrfFailed(Text("the form has expired or did not come from this site; "
                                                "reload the page and retry")))

    @property
    def csrf_token(self) -> str:
        """The token forms of this page must send back."""
        return self.viewer.csrf_token if self.viewer else self.anonymous_csrf

    def render(self, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
               headers: dict[str, str] | None = None) -> HTMLResponse:
        from onewindow.web.templating import render

        response = HTMLResponse(render(self, template, context or {}), status_code=status, headers=headers)
        if self.viewer is None and self.request.cookies.get(CSRF_COOKIE) != self.anonymous_csrf:
            response.set_cookie(CSRF_COOKIE, self.anonymous_csrf, httponly=True, samesite="lax",
                                secure=self.state.settings.session_cookie_secure, path="/")
        return response

    def redirect(self, url: str) -> Response:
        """Post/redirect/get: a 303 to ``url`` (for htmx, ``HX-Redirect`` so the whole page follows)."""
        if self.is_htmx:
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)


async def _page(request: Request) -> Page:
    submitted = request.headers.get(CSRF_HEADER)
    if request.method not in SAFE_METHODS and submitted is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)  # Starlette keeps the parsed form for the handler
            submitted = value if isinstance(value, str) else None
    page = Page(request, submitted)
    request.state.page = page
    return page


AsPage = Annotated[Page, Depends(_page)]
"""The page request (see the module docstring)."""
