"""The routes a request may match, found by the first segments of its path (decision 29).

FastAPI's router asks every route in turn whether it matches a request: some 30 routes before the last API
route's, each at least one call (an :class:`onewindow.app.ApiRoute` passes over a path that cannot be its own
at a glance), and FastAPI's own documentation routes, which come first, a full match each. A plain route
(Starlette's ``Route``, FastAPI's ``APIRoute`` or an ``ApiRoute``) matches only a path that begins with its
literal beginning (its pattern is anchored there), so a route whose literal beginning holds the path's first
:data:`KEY_SEGMENTS` segments whole can match only paths with those segments: :class:`RouteIndex` keeps, for
each such beginning, the routes that may match in the router's order (those routes, and every route of
another kind: mounts, included routers), and asks only those. A plain route whose first parameter comes
sooner (``/customs/declarations/{declaration_id}``) can match only paths beginning with the whole segments
before it: it is listed under those segments (its prefix), for the paths of its key and for the paths without
a key of their own that begin with that prefix (decision 34).

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


def path_prefixes(path: str) -> tuple[str, ...]:
    """The path's first segment, and its first two when it has more (``("/a", "/a/b")`` of ``/a/b/c``)."""
    parts = path.split("/", KEY_SEGMENTS)
    return tuple("/".join(parts[:count + 1]) for count in range(1, min(len(parts), KEY_SEGMENTS)))


def _plain(route: BaseRoute) -> bool:
    """A ``Route`` (an ``APIRoute`` among them) of a class that matches as those do (the pages' ``PageRoute``),
    or an :class:`onewindow.app.ApiRoute`, which only passes over more paths at a glance; its pattern anchored
    at the path's beginning."""
    from onewindow.app import ApiRoute

    return isinstance(route, Route) and (type(route).matches in _PLAIN_MATCHES or type(route) is ApiRoute) \
        and route.path_regex.pattern.startswith("^")


def route_key(route: BaseRoute) -> str | None:
    """The key of the paths ``route`` may match, or None for a route that may match other paths (one of
    another kind, or a plain route (:func:`_plain`) whose literal beginning does not hold
    :data:`KEY_SEGMENTS` whole segments)."""
    if not _plain(route):
        return None
    path: str = route.path
    if "{" not in path:
        return path_key(path)
    literal_beginning = path.split("{", 1)[0]
    if literal_beginning.count("/") <= KEY_SEGMENTS:  # the last segment is cut by a parameter
        return None
    return path_key(literal_beginning)


def route_prefix(route: BaseRoute) -> str | None:
    """For a plain route that :func:`route_key` does not key, the whole segments before its first parameter,
    one or two (``/customs/declarations`` of ``/customs/declarations/{declaration_id}``): it matches only
    paths beginning with them. None for a route with a key, one of another kind, or one whose first segment
    is cut by a parameter."""
    if not _plain(route) or route_key(route) is not None:
        return None
    literal_beginning = route.path.split("{", 1)[0]
    return literal_beginning[:literal_beginning.rfind("/")] or None


class RouteIndex:
    """The router's routes by :func:`path_key`, and by :func:`path_prefixes` for the paths no key lists; an
    ASGI application standing for the router's own matching loop (``router.middleware_stack``)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.index()

    def index(self) -> None:
        """List, for every key and every prefix of the routes, the routes that may match a path of that key (or,
        with no key of its own, beginning with that prefix), in the router's order."""
        routes = self.router.routes
        found = [(route, route_key(route), route_prefix(route)) for route in routes]

        def listed(key: str | None, prefixes: tuple[str, ...]) -> list[BaseRoute]:
            return [route for route, its_key, its_prefix in found
                    if (its_key is None and its_prefix is None) or (key is not None and its_key == key)
                    or its_prefix in prefixes]

        self.keyed = {key: listed(key, path_prefixes(key)) for _, key, _ in found if key is not None}
        self.prefixed = {prefix: listed(None, path_prefixes(prefix)) for _, _, prefix in found if prefix is not None}
        self.others = listed(None, ())
        self.low_priority = any(True for _ in self.router._iter_low_priority_routes())
        self.indexed = (list(routes), self.router._routes_version)

    def candidates(self, route_path: str) -> list[BaseRoute]:
        """The routes that may match ``route_path``, in the router's order: those of its key, or else of its
        longest prefix listed, or else the routes neither keyed nor prefixed."""
        listed = self.keyed.get(path_key(route_path))
        if listed is not None:
            return listed
        for prefix in reversed(path_prefixes(route_path)):
            listed = self.prefixed.get(prefix)
            if listed is not None:
                return listed
        return self.others

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
        for route in self.candidates(route_path):
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
                   for route in self.candidates(get_route_path(redirect_scope)))

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
