"""``onewindow serve --workers N``: the parent accepts, each connection goes to the worker with the fewest open.

The served tests run the real command in a subprocess on a SQLite database of
their own and find which worker holds each connection from the kernel's
socket tables (psutil).
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections import Counter

import psutil
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from onewindow.migrate import upgrade
from onewindow.processes import HANDED, SCHEDULER_NAME, Supervisor, _Worker, least_loaded
from tests.served import Served

# --- the choice --------------------------------------------------------------------------------------------


def test_the_worker_with_fewest_open_connections_gets_the_next():
    assert least_loaded([3, 1, 2], after=-1) == 1
    assert least_loaded([0, 5], after=0) == 0


def test_a_tie_goes_round_robin_after_the_last_served():
    assert least_loaded([2, 2, 2], after=0) == 1
    assert least_loaded([2, 2, 2], after=1) == 2
    assert least_loaded([2, 2, 2], after=2) == 0
    assert least_loaded([1, 4, 1], after=0) == 2


def test_a_worker_not_running_gets_nothing():
    assert least_loaded([None, 7], after=1) == 1
    assert least_loaded([None, None], after=0) is None


class _Pid:
    pid = 0


def _worker_pair(open_connections: int) -> tuple[_Worker, socket.socket]:
    parent_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent_end.setblocking(False)
    return _Worker(process=_Pid(), channel=parent_end, open=open_connections), worker_end


def test_a_connection_a_worker_cannot_take_goes_to_the_next():
    supervisor = Supervisor(uvicorn.Config("onewindow.app:served_app"), workers=2)
    gone, gone_end = _worker_pair(0)  # the least loaded, but its end is closed (the worker has just ended)
    gone_end.close()
    busy, busy_end = _worker_pair(3)
    supervisor.workers = [gone, busy]
    client, server_side = socket.socketpair()
    try:
        supervisor._hand(server_side)
        message, descriptors, _flags, _address = socket.recv_fds(busy_end, 16, 8)
        assert message == HANDED and len(descriptors) == 1
        with socket.socket(fileno=descriptors[0]) as handed:  # the same connection: what one end sends, arrives
            client.sendall(b"ping")
            assert handed.recv(4) == b"ping"
        assert (gone.open, busy.open, supervisor.last) == (0, 4, 1)
    finally:
        for s in (client, server_side, busy_end, gone.channel, busy.channel):
            s.close()


def test_a_connection_no_worker_can_take_is_dropped_without_counting():
    supervisor = Supervisor(uvicorn.Config("onewindow.app:served_app"), workers=2)
    pairs = [_worker_pair(0), _worker_pair(0)]
    for _, end in pairs:
        end.close()
    supervisor.workers = [w for w, _ in pairs]
    client, server_side = socket.socketpair()
    supervisor._hand(server_side)
    assert [w.open for w in supervisor.workers] == [0, 0] and supervisor.last == -1
    for s in (client, server_side, *(w.channel for w in supervisor.workers)):
        s.close()


# --- served --------------------------------------------------------------------------------------------------


def _get(connection: socket.socket, path: str = "/healthz") -> bytes:
    """One request on a kept-alive connection; the answer's status line."""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(headers[b"content-length"])
    while len(body) < length:
        body += connection.recv(65536)
    return head.split(b"\r\n")[0]


class Workers(Served):
    """``onewindow serve --workers N`` on a SQLite database of its own (or ``database_url``), launched."""

    def __init__(self, tmp_path, workers: int, database_url: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        if database_url is None:
            database_url = f"sqlite:///{tmp_path / 'ow.db'}"
            engine = create_engine(database_url)
            upgrade(engine)
            engine.dispose()
        super().__init__(database_url, "--workers", str(workers), env=env)
        self.launch()

    def wait_until_serving(self, workers: int) -> None:
        """Until ``workers`` workers run and each has answered a request (so each has told the parent it
        started: a worker killed before that counts as one that cannot start)."""
        self.wait_until(lambda: len(self.workers()) == workers and self._each_worker_answers(), 60,
                        f"{workers} workers did not serve")

    def _each_worker_answers(self) -> bool:
        """One kept-alive connection per worker, each answered; False unless every worker holds one."""
        running = {w.pid for w in self.workers()}
        connections: list[socket.socket] = []
        try:
            for _ in running:
                connections.append(socket.create_connection(("127.0.0.1", self.port), timeout=10))
            if not all(_get(c).endswith(b"200 OK") for c in connections):
                return False
            return {_server_pid(self, c) for c in connections} == running
        except (OSError, AssertionError):
            return False
        finally:
            for c in connections:
                c.close()

    def workers(self) -> list[psutil.Process]:
        return [p for p in self._children() if p.name() != SCHEDULER_NAME]

    def schedulers(self) -> list[psutil.Process]:
        """The scheduler processes running beside the workers."""
        return [p for p in self._children() if p.name() == SCHEDULER_NAME]

    def _children(self) -> list[psutil.Process]:
        children = []
        for p in psutil.Process(self.proc.pid).children():
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(p.cmdline()):
                    children.append(p)
            except psutil.NoSuchProcess:  # ended meanwhile
                pass
        return children

    def held(self) -> Counter:
        """Established connections to the port per worker pid (the parent's own included, under its pid)."""
        counts: Counter = Counter()
        for process in [psutil.Process(self.proc.pid), *self.workers()]:
            for c in process.net_connections(kind="tcp"):
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port:
                    counts[process.pid] += 1
        return counts

    def connect(self, n: int) -> list[socket.socket]:
        connections = []
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            assert _get(c).endswith(b"200 OK")
            connections.append(c)
        return connections


def _settled(served: Workers, expected: dict[int, int]) -> Counter:
    """The connections held per worker once they equal ``expected`` (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        held = served.held()
        if +held == +Counter(expected) or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


@pytest.fixture
def two_workers(tmp_path):
    served = Workers(tmp_path, workers=2)
    try:
        served.wait_until_serving(2)
        yield served
    finally:
        served.stop()


def test_connections_are_shared_out_evenly_and_refilled_where_they_closed(two_workers):
    a, b = (w.pid for w in two_workers.workers())
    connections = two_workers.connect(8)
    held = _settled(two_workers, {a: 4, b: 4})
    assert held == Counter({a: 4, b: 4}), "the parent holds none and each worker 4"

    # The connections of one worker close: the next ones go to it, not to the busier one.
    on_a = [c for c in connections if _server_pid(two_workers, c) == a]
    for c in on_a:
        c.close()
    assert _settled(two_workers, {b: 4}) == Counter({b: 4})
    _wait_until_closed_by(two_workers, a)
    time.sleep(0.2)  # the worker reports each close as it closes its end; the parent reads it at once
    more = two_workers.connect(3)
    assert _settled(two_workers, {a: 3, b: 4}) == Counter({a: 3, b: 4})
    for c in [*connections, *more]:
        c.close()


def _wait_until_closed_by(served: Workers, pid: int) -> None:
    """Until worker ``pid`` has closed its end of every connection to the port."""
    deadline = time.monotonic() + 10
    while any(c.laddr.port == served.port and c.raddr for c in psutil.Process(pid).net_connections(kind="tcp")):
        assert time.monotonic() < deadline, "the worker did not close its connections"
        time.sleep(0.05)


def _server_pid(served: Workers, client: socket.socket) -> int:
    """The worker holding the server's end of ``client``."""
    port = client.getsockname()[1]
    for process in served.workers():
        for c in process.net_connections(kind="tcp"):
            if c.raddr and c.raddr.port == port and c.laddr.port == served.port:
                return process.pid
    raise AssertionError("no worker holds the connection")


def test_a_dead_worker_is_replaced_and_the_port_keeps_serving(two_workers):
    first = {w.pid for w in two_workers.workers()}
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = {w.pid for w in two_workers.workers()}
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the dead worker was not replaced")
    two_workers.wait_until_serving(2)
    connections = two_workers.connect(4)
    held = _settled(two_workers, {pid: 2 for pid in now})
    assert sorted(held.values()) == [2, 2] and set(held) == now
    for c in connections:
        c.close()


def _record_an_event(database_url: str, code: str) -> None:
    """One event in the log (about an organisation ``code`` made for it), committed."""
    from onewindow.clock import SystemClock
    from onewindow.config import Settings
    from onewindow.context import Context
    from onewindow.db import make_engine, make_session_factory, unit_of_work
    from onewindow.events.service import record_event
    from onewindow.models import Organisation

    engine = make_engine(database_url, pool_size=1)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            clock = SystemClock()
            organisation = Organisation(kind="customs", code=code, name=code, created_at=clock.now())
            session.add(organisation)
            session.flush()
            record_event(Context(session, clock, Settings(database_url=database_url)), "filing.created",
                         subject_type="filing", subject_id=uuid.uuid4(), recipients=[organisation.id], data={})
    finally:
        engine.dispose()


def _projected(database_url: str) -> int:
    """Events the clearance-time study has taken in (its cursor's count; 0 before the first)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT published FROM sink_cursors WHERE name = 'clearance'")).scalar() or 0
    finally:
        engine.dispose()


def test_one_scheduler_process_runs_beside_the_workers_and_is_restarted_when_it_ends(tmp_path):
    """The deadline scheduler runs once, in a process of its own (not in each worker): it keeps the
    clearance-time study up to date, and the parent starts it again when it dies."""
    served = Workers(tmp_path, workers=2, env={"ONEWINDOW_SCHEDULER_INTERVAL_SECONDS": "0.1"})
    url = served.env["ONEWINDOW_DATABASE_URL"]
    try:
        served.wait_until_serving(2)
        served.wait_until(lambda: len(served.schedulers()) == 1, 30, "no scheduler process")
        [first] = served.schedulers()
        _record_an_event(url, "0916")
        served.wait_until(lambda: _projected(url) == 1, 30, "the scheduler did not take the event in")

        first.kill()
        served.wait_until(lambda: [p.pid for p in served.schedulers()] not in ([], [first.pid]),
                          30, "the scheduler process was not started again")
        assert len(served.schedulers()) == 1
        _record_an_event(url, "0917")
        served.wait_until(lambda: _projected(url) == 2, 30, "the new scheduler did not take the event in")
    finally:
        served.stop()


def _assert_all_end(processes: list[psutil.Process], within: float) -> None:
    for process in processes:
        try:
            process.wait(within)
        except psutil.NoSuchProcess:
            pass
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_the_scheduler_process_ends_once_its_parent_is_killed(two_workers):
    """SIGKILL of the parent (no clean-up of any kind): its workers end, and so does the scheduler process."""
    children = two_workers.workers() + two_workers.schedulers()
    assert len(children) == 3
    two_workers.kill()
    _assert_all_end(children, 20)


def test_without_the_embedded_scheduler_no_scheduler_process_runs(tmp_path):
    """``ONEWINDOW_EMBEDDED_SCHEDULER=false`` (``onewindow worker`` runs it): neither a scheduler process nor a
    scheduler in the workers takes the events in."""
    served = Workers(tmp_path, workers=2, env={"ONEWINDOW_EMBEDDED_SCHEDULER": "false",
                                               "ONEWINDOW_SCHEDULER_INTERVAL_SECONDS": "0.1"})
    url = served.env["ONEWINDOW_DATABASE_URL"]
    try:
        served.wait_until_serving(2)
        _record_an_event(url, "0916")
        time.sleep(1.0)  # ten scheduler intervals
        assert served.schedulers() == [] and _projected(url) == 0
    finally:
        served.stop()


def test_sigterm_stops_the_parent_and_every_worker(two_workers):
    children = two_workers.workers() + two_workers.schedulers()
    assert len(children) == 3
    assert two_workers.stop() == 0
    _assert_all_end(children, 10)


CANNOT_START = """
from pathlib import Path

if b"spawn_main" in Path("/proc/self/cmdline").read_bytes():  # a process the server started, not the server
    import onewindow.app

    def cannot_start():
        raise RuntimeError("this application cannot start")

    onewindow.app.served_app = cannot_start
"""
"""A ``sitecustomize`` that makes the application factory fail in the processes the server starts: the server
itself checks the database and the settings before it starts any (so a database it cannot open stops it at
once), and an application that still fails in its workers is what this is about."""


def test_an_application_that_cannot_start_stops_the_parent_with_uvicorns_failure_status(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(CANNOT_START)
    path = os.pathsep.join(p for p in (str(tmp_path / "site"), os.environ.get("PYTHONPATH")) if p)
    served = Workers(tmp_path, workers=2, env={"PYTHONPATH": path})
    try:
        assert served.proc.wait(60) == 3
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
