"""What finding a request's route costs: Python calls and CPU per request, through the application object.

Each request below runs ``--requests`` times, one at a time, in process (no sockets), by the terminal's API
token and without a signed-in page session; the first ``--warm-up`` of each are not counted. The kinds
cover every way a request's route is found (see ``onewindow.route_index``): an API route found by its path,
a page, a page's path with a slash too many (a redirect), a static file, a path no route matches (404) and
a page's path with a method it does not allow (405).

    python bench/routing.py [--requests 500] [--warm-up 50] [--db sqlite]

Calls are counted with cProfile in a second pass of the same requests (they do not move with the
machine's load); CPU time is measured without the profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).parent))
from common import asgi_request, drop_database, fresh_database, machine  # noqa: E402
from lifecycle import prepare  # noqa: E402

from onewindow.app import create_app, settle_collector  # noqa: E402
from onewindow.config import Settings  # noqa: E402

REQUESTS = [
    ("API route", "GET", "/api/v1/me", 200),
    ("page, not signed in (to the sign-in page)", "GET", "/terminal/tasks", 303),
    ("page of the agencies' workbench, not signed in", "GET", "/customs/declarations/x1", 303),
    ("sign-in page", "GET", "/login", 200),
    ("page's path with a slash too many", "GET", "/terminal/tasks/", 307),
    ("static file", "GET", "/static/app.css", 200),
    ("no route: 404", "GET", "/api/v1/nothing-here", 404),
    ("no route: 404, outside the API", "GET", "/wp-login.php", 404),
    ("page's path, another method: 405", "DELETE", "/terminal/tasks", 405),
]


def measure(kind: str, requests: int, warm_up: int) -> list[tuple[str, str, str, float, float]]:
    """(label, method, path, CPU µs per request, Python calls per request) for each of :data:`REQUESTS`."""
    url = fresh_database(kind, "onewindow_bench_routing")
    tokens = prepare(url)
    app = create_app(Settings(database_url=url, embedded_scheduler=False))
    settle_collector()  # as served_app() does for `onewindow serve`
    headers = [(b"authorization", f"Bearer {tokens['terminal']}".encode()), (b"host", b"bench")]

    async def run(method: str, path: str, status: int, times: int) -> None:
        for _ in range(times):
            answer, _body = await asgi_request(app, method, path, headers)
            assert answer == status, (method, path, answer)

    async def main() -> list:
        rows = []
        for label, method, path, status in REQUESTS:
            await run(method, path, status, warm_up)
            cpu = time.process_time()
            await run(method, path, status, requests)
            cpu = time.process_time() - cpu
            profiler = cProfile.Profile()
            profiler.enable()
            await run(method, path, status, requests)
            profiler.disable()
            rows.append((label, method, path, 1e6 * cpu / requests, pstats.Stats(profiler).total_calls / requests))
        return rows

    try:
        return uvloop.run(main())
    finally:
        app.state.engine.dispose()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print("| request | method and path | CPU µs per request | Python calls per request |")
    print("|---|---|---|---|")
    for label, method, path, cpu, calls in measure(args.db, args.requests, args.warm_up):
        print(f"| {label} | `{method} {path}` | {cpu:.0f} | {calls:.0f} |")


if __name__ == "__main__":
    main()
