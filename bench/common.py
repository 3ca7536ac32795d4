"""Helpers shared by the benchmarks: fresh databases, a server in a subprocess, percentiles."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PG_ADMIN = os.environ.get("ONEWINDOW_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def fresh_database(kind: str, name: str) -> str:
    """The URL of a new, empty database of ``kind`` (sqlite or postgresql)."""
    if kind == "sqlite":
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='onewindow-bench-')) / (name + '.db')}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_publication_made(database_url: str, timeout: float = 60.0) -> int:
    """Wait until the server on ``database_url`` has published the clearance figures' standard set once, and
    return how many answers that is (0, at once, when the server runs no scheduler:
    ``ONEWINDOW_EMBEDDED_SCHEDULER=false``).

    A server publishes them in its scheduler's first round after it starts, then at most every
    ``ONEWINDOW_CLEARANCE_REFRESH_SECONDS`` (10 minutes) while the study changes: work done once at start,
    which a measured part of a few seconds would count as if it came with every request. The scheduler's
    steady work (the study kept up to date, the deadlines) stays in the measured part.
    """
    from datetime import UTC, datetime

    from onewindow.config import Settings
    from onewindow.db import normalise_url
    from onewindow.timing.publication import standard_set
    from onewindow.timing.projection import local_day

    settings = Settings(database_url=database_url)
    if not settings.embedded_scheduler:
        return 0
    wanted = len(standard_set(local_day(datetime.now(UTC), settings.clearance_timezone),
                              settings.clearance_min_group))
    engine = create_engine(normalise_url(database_url), poolclass=NullPool)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                made = conn.execute(text("SELECT count(*) FROM clearance_publications")).scalar()
            if made >= wanted:
                return made
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server published {made} of the {wanted} clearance answers in {timeout} s")
            time.sleep(0.1)
    finally:
        engine.dispose()


class ServerURL(str):
    """The base URL of a server started by :func:`server`, with the process id of its main process."""

    pid: int


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and all its children (the server's workers)."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@contextmanager
def server(database_url: str, workers: int = 1, env: dict[str, str] | None = None):
    """``onewindow serve`` on a free loopback port, with ``env`` added to its environment; yields its base URL
    (a :class:`ServerURL`)."""
    port = free_port()
    env = {**os.environ, "ONEWINDOW_DATABASE_URL": database_url, "ONEWINDOW_LOG_LEVEL": "WARNING", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "onewindow.cli", "serve", "--port", str(port),
                             "--workers", str(workers)], env=env)
    base = ServerURL(f"http://127.0.0.1:{port}")
    base.pid = proc.pid
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection of a benchmark client: one request at a time, each answer read with
    httptools (the parser uvicorn serves with). The load generator shares the machine's cores with the
    server, so it does as little as a client can: the request is one ``bytes`` written at once, the answer
    its status and body. Open with :meth:`to`."""

    def __init__(self, host: str) -> None:
        import httptools

        self._host = host
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._answer: asyncio.Future | None = None
        self._transport: asyncio.Transport | None = None

    @classmethod
    async def to(cls, base: str) -> Connection:
        """A connection to the server at ``base`` (``http://host:port``)."""
        host, _, port = base.removeprefix("http://").partition(":")
        _transport, connection = await asyncio.get_running_loop().create_connection(
            lambda: cls(f"{host}:{port}"), host, int(port))
        return connection

    async def request(self, method: str, path: str, headers: str, body: bytes = b"") -> tuple[int, bytes]:
        """``method path`` with ``headers`` (lines ending in CRLF) and ``body``; (status, answer's body)."""
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n{headers}"
                              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return await self._answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionError(f"the server closed the connection ({exc})"))

    def on_body(self, body: bytes) -> None:  # httptools' callbacks
        self._body.append(body)

    def on_message_complete(self) -> None:
        body, self._body = b"".join(self._body), []
        self._answer.set_result((self._parser.get_status_code(), body))


async def over_connections(base: str, concurrency: int, client) -> float:
    """The seconds ``concurrency`` clients take, each ``await client(connection)`` on a kept-alive
    :class:`Connection` of its own to ``base``, all at once; the connections are closed after."""
    connections = [await Connection.to(base) for _ in range(concurrency)]
    try:
        start = time.perf_counter()
        await asyncio.gather(*(client(c) for c in connections))
        return time.perf_counter() - start
    finally:
        for connection in connections:
            connection.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def summary(latencies: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2)}


def drop_database(url: str) -> None:
    """Remove a database made by :func:`fresh_database` (the SQLite file's directory, or the PostgreSQL database)."""
    import shutil

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        shutil.rmtree(Path(parsed.database).parent, ignore_errors=True)
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


async def asgi_request(app, method: str, path: str, headers: list, body: bytes = b"") -> tuple[int, bytes]:
    """One request through an ASGI application object, without sockets; (status, body). ``path`` may carry a
    query string."""
    route, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": route, "raw_path": route.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [*headers, (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer: dict = {"body": []}

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"].append(message.get("body", b""))

    await app(scope, receive, send)
    return answer["status"], b"".join(answer["body"])


def units_of_work_on_the_loop() -> None:
    """Run every unit of work on the event loop's thread (where cProfile sees it), on PostgreSQL too."""
    from onewindow import http

    def inline(_state, fn, *args):
        future = asyncio.get_running_loop().create_future()
        try:
            future.set_result(fn(*args))
        except Exception as error:  # noqa: BLE001 - handed to the awaiting request
            future.set_exception(error)
        return future

    http.in_worker_thread = inline


class LogPages:
    """The pages an SQLite database's writers append to its write-ahead log, by b-tree: a count that does not
    move with the machine's speed (what each commit writes, two writes per page, while it holds the lock).

    Make it before any engine on the database: it stops this process's checkpoints, so that the log keeps
    every page written (a checkpoint lets the next writer start the log afresh), and with them the CPU they
    take. :meth:`start` and :meth:`stop` bracket the counted requests; :meth:`pages` names the pages' b-trees.
    """

    def __init__(self, url: str) -> None:
        from onewindow import db

        db.CHECKPOINT_SECONDS = 1e6  # each checkpointer's pause between rounds (time.sleep refuses infinity)
        self.path = Path(make_url(url).database)
        self._wal = Path(f"{self.path}-wal")
        self._start = 0
        self._numbers: list[int] = []

    def start(self) -> None:
        self._start = self._wal.stat().st_size

    def stop(self) -> None:
        """The page number of every page appended since :meth:`start`."""
        import struct

        with self._wal.open("rb") as log:
            size = struct.unpack(">I", log.read(32)[8:12])[0]
            log.seek(max(self._start, 32))
            frames = log.read()
        self._numbers = [struct.unpack(">I", frames[at:at + 4])[0]
                         for at in range(0, len(frames) - size - 23, 24 + size)]

    def pages(self) -> dict[str, int]:
        """The pages counted, by table or index name (``?`` for a page no b-tree holds any more), most first."""
        import sqlite3
        from collections import Counter

        connection = sqlite3.connect(self.path)
        try:
            names = dict(connection.execute("SELECT pageno, name FROM dbstat"))
        finally:
            connection.close()
        return dict(Counter(names.get(n, "?") for n in self._numbers).most_common())


def print_log_pages(pages: dict[str, int], per: int, unit: str, rows: int = 12) -> None:
    """A table of :meth:`LogPages.pages` per ``unit`` (``per`` of them were counted): the total, then by b-tree."""
    print(f"| write-ahead log pages per {unit} | {sum(pages.values()) / per:.1f} |")
    print("|---|---|")
    for name, count in list(pages.items())[:rows]:
        print(f"| `{name}` | {count / per:.1f} |")
    print(flush=True)
