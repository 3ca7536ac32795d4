"""The routes a request may match, found by the first segments of its path (decision 29).

FastAPI's router asks every route in turn whether it matches a request: some 30 routes before the last API
route's, each at least one call (an :class:`onewindow.app.ApiRoute` passes over a path that cannot be its own
at a glance), and FastAPI's own documentation routes, which come first, a full match each. A plain route
(Starlette's ``Route``, FastAPI's ``APIRoute`` or an ``ApiRoute``) matches only a path that begins with its
literal beginning (its pattern is anchored there), so a route whose literal beginning holds the path's first
:data:`KEY_SEGMENTS` segments whole can match only paths with those segments: :class:`RouteIndex` keeps, for
each such beginning, the routes that may match in the router's order (those routes, and every route of
another kind: mounts, included routers), and asks only those.

The first route that matches in full, or else the first that matches but for the method, is the one the
router's own loop finds: every route passed over could not have matched. The request is then handled as the
router's loop handles it. A request no listed route matches is answered as the router's loop answers it
after its loop over every route: a redirect to the path with or without a trailing slash when a route
listed for that path matches it (the router's own loop then handles the request), FastAPI's low-priority
routes when the router has any (the same), else the router's default answer (404) at once, without the two
walks over every route that the router's own loop would take first. A path ending with a line feed (a
pattern's ``$`` matches before one) and any request while the routes differ from those indexed go to the
router's own loop.
"""

from __future__ import annotations

from fastapi.routing import APIRoute, APIRouter, _apply_router_form_limits, _route_selected, _update_scope
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Receive, Scope, Send

_PLAIN_MATCHES = (Route.matches, APIRoute.matches)
"""The ways of matching of a plain route: its pattern against the request's path, then its methods."""

KEY_SEGMENTS = 3
"""The segments of a path that key its routes: ``/api/v1/inspections`` of ``/api/v1/inspections/{id}/results``."""


def path_key(path: str) -> str:
    """The path up to its first :data:`KEY_SEGMENTS` segments (the whole path when it has no more)."""
    return "/".join(path.split("/", KEY_SEGMENTS + 1)[:KEY_SEGMENTS + 1])


def route_key(route: BaseRoute) -> str | None:
    """The key of the paths ``route`` may match, or None for a route that may match other paths (one of
    another kind, or whose literal beginning does not hold :data:`KEY_SEGMENTS` whole segments).

    A plain route is a ``Route`` (an ``APIRoute`` among them) of a class that matches as those do (the pages'
    ``PageRoute``), or an :class:`onewindow.app.ApiRoute`, which only passes over more paths at a glance."""
    from onewindow.app import ApiRoute

    if not isinstance(route, Route) or (type(route).matches not in _PLAIN_MATCHES and type(route) is not ApiRoute) \
            or not route.path_regex.pattern.startswith("^"):
        return None
    path: str = route.path
    if "{" not in path:
        return path_key(path)
    literal_beginning = path.split("{", 1)[0]
    if literal_beginning.count("/") <= KEY_SEGMENTS:  # the last segment is cut by a parameter
        return None
    return path_key(literal_beginning)


class RouteIndex:
    """The router's routes by :func:`path_key`; an ASGI application standing for the router's own matching
    loop (``router.middleware_stack``)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.index()

    def index(self) -> None:
        """List, for every key, the routes that may match a path of that key, in the router's order."""
        routes = self.router.routes
        keyed: dict[str, list[BaseRoute]] = {}
        others: list[BaseRoute] = []
        for route in routes:
            key = route_key(route)
            if key is None:
                others.append(route)
                for listed in keyed.values():
                    listed.append(route)
            else:
                keyed.setdefault(key, list(others)).append(route)
        self.keyed, self.others = keyed, others
        self.low_priority = any(True for _ in self.router._iter_low_priority_routes())
        self.indexed = (list(routes), self.router._routes_version)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self.router
        if scope["type"] != "http" or (route_path := get_route_path(scope)).endswith("\n"):
            await router.app(scope, receive, send)
            return
        routes, version = self.indexed
        if router._routes_version != version or router.routes != routes:  # routes added or removed since
            self.index()
        _apply_router_form_limits(scope, router.form_limits)
        if "router" not in scope:
            scope["router"] = router
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.keyed.get(path_key(route_path), self.others):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                await self._handle(route, child_scope, scope, receive, send)
                return
            if match == Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            await self._handle(*partial, scope, receive, send)
            return
        if self.low_priority or self._redirects(scope, route_path):
            await router.app(scope, receive, send)
            return
        await router.default(scope, receive, send)

    def _redirects(self, scope: Scope, route_path: str) -> bool:
        """Whether the router's loop, having found no route for the request, redirects it to its path with a
        trailing slash, or without one: a route listed for that path matches it, even but for the method."""
        if not self.router.redirect_slashes or route_path == "/":
            return False
        path = scope["path"]
        redirect_scope = {**scope, "path": path.rstrip("/") if route_path.endswith("/") else path + "/"}
        return any(route.matches(redirect_scope)[0] != Match.NONE
                   for route in self.keyed.get(path_key(get_route_path(redirect_scope)), self.others))

    @staticmethod
    async def _handle(route: BaseRoute, child_scope: Scope, scope: Scope, receive: Receive, send: Send) -> None:
        """What the router's loop does with the route it found."""
        _update_scope(scope, child_scope)
        _route_selected(scope=scope, path=getattr(route, "path_format", None), mount=isinstance(route, Mount))
        await route.handle(scope, receive, send)


def install(router: APIRouter) -> None:
    """Let ``router`` find a request's route with a :class:`RouteIndex` in place of its matching loop (its
    ``middleware_stack``: the router has no middleware of its own)."""
    if router.middleware_stack != router.app:
        raise ValueError("a router with middleware of its own keeps its own matching")
    router.middleware_stack = RouteIndex(router)
