"""Server-rendered pages (Jinja2 + htmx, Pico CSS): sign-in, the enterprise's pages, the agencies'
workbench, the terminal's pages, the public status query.

``mount(app)`` adds the page routers' routes and ``/static``. How to add a page: a route on the ``router``
of a module listed in :func:`mount` (a :func:`onewindow.web.routing.page_router`; several made alike are put
together with :func:`onewindow.web.routing.joined`), its work in ``page.run`` (:mod:`onewindow.web.page`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the routes of every page router to ``app`` as its own (:func:`onewindow.app.add_routes`), and the
    static files."""
    from onewindow import app as application  # add_routes read when called: a test may include routers instead
    from onewindow.web import account, agency, amendments, clearance, enterprise, entry, lookup, public, terminal

    # fixed paths before /filings/{id}
    for module in (account, lookup, public, clearance, entry, amendments, enterprise, agency, terminal):
        application.add_routes(app, module.router, "")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
