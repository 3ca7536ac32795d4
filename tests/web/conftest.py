"""Fixtures for the pages: signed-in test clients, a live server and a real browser (Debian's Chromium).

* ``pages``: the ``world`` with a password for every user, and ``pages.sign_in(client, code)``.
* ``live_server``: the application served by uvicorn on a free loopback port (a thread), on the
  test database (SQLite and PostgreSQL, like every database test).
* ``browser``: Chromium at /usr/bin/chromium driven by Playwright (never downloaded by Playwright);
  skips when it is missing, fails instead when ONEWINDOW_REQUIRE_SERVICES=1 (``make browser`` installs it).
* ``shots``: ``shots(page, "name")`` keeps a full-page screenshot under var/screenshots/<test>/.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("ONEWINDOW_REQUIRE_SERVICES") == "1"

PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("ONEWINDOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


_HASH: list[str] = []


def _password_hash() -> str:
    """One Argon2id hash of :data:`PASSWORD` (made by the platform's own ``set_password``), reused by every user:
    hashing is deliberately slow."""
    if not _HASH:
        from onewindow.models import User
        from onewindow.parties.service import set_password

        user = User()
        set_password(user, PASSWORD)
        _HASH.append(user.password_hash)
    return _HASH[0]


class Pages:
    """The world's organisations, each with a user ``staff`` whose password is :data:`PASSWORD`."""

    def __init__(self, world, run) -> None:
        from sqlalchemy import select

        from onewindow.models import User

        self.world, self._run = world, run

        def passwords(ctx):
            for user in ctx.session.scalars(select(User)):
                user.password_hash = _password_hash()

        run(passwords)

    def add_user(self, code: str, name: str, role: str) -> None:
        """Another user of ``code`` with ``role`` and the same password."""
        from onewindow.parties.service import ensure_user, get_organisation_by_code, set_password

        self._run(lambda ctx: set_password(ensure_user(ctx, get_organisation_by_code(ctx, code), name, role),
                                           PASSWORD))

    @staticmethod
    def csrf(client) -> str:
        """The form token of the page the client is on (from any page's hidden field)."""
        html = client.get("/login").text if "ow_session" not in client.cookies else client.get("/status").text
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    @staticmethod
    def sign_in(client, code: str, user: str = "staff", password: str = PASSWORD):
        """Sign ``user`` of ``code`` in on ``client`` (its cookie), through the sign-in form."""
        token = Pages.csrf(client)
        response = client.post("/login", data={"organisation": code, "user": user, "password": password,
                                               "csrf_token": token, "next": "/"}, follow_redirects=False)
        assert response.status_code == 303, response.text
        return response


@pytest.fixture
def pages(world, run) -> Pages:
    return Pages(world, run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The base URL of the application served by uvicorn in a thread."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.02)
    else:
        raise RuntimeError("the test server did not start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def chromium() -> Iterator[object]:
    """A headless Chromium (Playwright's ``Browser``) for one test.

    Started and stopped with each test: the sync Playwright API runs an event loop on the test thread
    while it is started, which would break the other tests' ``asyncio.run``.
    """
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Chromium is not installed at {CHROMIUM} (run `make browser`)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and ONEWINDOW_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def browser(chromium, live_server) -> Iterator[object]:
    """A fresh browser page (its own cookies) on the live server; ``page.goto("/login")`` works."""
    context = chromium.new_context(base_url=live_server, viewport={"width": 1024, "height": 768})
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shots(request):
    """``shots(page, name)``: a full-page PNG kept under var/screenshots/<test id>/<nn>-<name>.png."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    counter = iter(range(1, 1000))

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    yield take
    if folder.exists():
        print(f"screenshots: {folder}")


API = "/api/v1"
ENTERPRISE = "91210200MA0QK1P3AF"


class Port:
    """The other parties of a consignment, acting through the API with their tokens (agencies, terminal)."""

    def __init__(self, client, world) -> None:
        self.client, self.world = client, world

    def _ok(self, response, status=200):
        assert response.status_code == status, response.text
        return response.json()

    def post(self, who: str, path: str, body=None, status=200):
        return self._ok(self.client.post(API + path, json=body, headers=self.world.headers(who)), status)

    def get(self, who: str, path: str):
        return self._ok(self.client.get(API + path, headers=self.world.headers(who)))

    def declarations(self, filing_id: str) -> dict[str, str]:
        return {d["agency"]: d["id"] for d in self.get(ENTERPRISE, f"/filings/{filing_id}")["declarations"]}

    def arrive(self, entry: dict) -> None:
        self.post("DCT", "/terminal/arrivals", {"containers": [c["number"] for c in entry["containers"]],
                                                "conveyance": entry["conveyance"]}, 201)

    def accept_all(self, filing_id: str) -> None:
        for agency, declaration in self.declarations(filing_id).items():
            self.post({"customs": "0916", "ciq": "210600"}[agency], f"/declarations/{declaration}/accept")

    def inspect_jointly(self, filing_id: str, container: str) -> str:
        """Both agencies decide to inspect ``container``; the terminal moves it. The inspection's id."""
        for agency, declaration in self.declarations(filing_id).items():
            office = {"customs": "0916", "ciq": "210600"}[agency]
            self.post(office, f"/declarations/{declaration}/decision",
                      {"inspect": True, "containers": [container], "kind": "physical",
                       "reason": f"confidential {agency} risk rule"}, 201)
        [task] = [t for t in self.get("DCT", "/terminal/tasks") if t["status"] == "open"]
        self.post("DCT", f"/terminal/tasks/{task['id']}/complete", {"location": "查验区 B3"})
        return task["inspection_id"]

    def inspect_and_release(self, inspection_id: str, filing_id: str, container: str) -> None:
        """Both agencies check in, find the goods conforming, release; the terminal gates the container out."""
        for office in ("0916", "210600"):
            self.post(office, f"/inspections/{inspection_id}/check-in")
            self.post(office, f"/inspections/{inspection_id}/results", {"outcome": "conforming",
                                                                       "findings": "符合 conforming"})
        for agency, declaration in self.declarations(filing_id).items():
            self.post({"customs": "0916", "ciq": "210600"}[agency], f"/declarations/{declaration}/release")
        self.post("DCT", f"/containers/{container}/gate-out")


@pytest.fixture
def port(client, world) -> Port:
    return Port(client, world)
