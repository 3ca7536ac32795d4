"""Several server processes on one port, connections shared out evenly: ``onewindow serve --workers N``.

uvicorn's own way to run several processes lets them all accept on one
listening socket. Whichever process the kernel wakes first accepts every
connection waiting at that moment, so a few long-lived connections (a reverse
proxy's keep-alive pool, a client with a pool of eight connections) often land
all or mostly on one process while another idles: measured with
``bench/filings.py --workers 2`` and 8 client connections, splits of 8/0, 7/1,
6/2, 5/3 and 4/4 from one run to the next, and 468-478 filings/s for the
uneven ones against 569-584 for 4/4.

Here the parent process alone accepts. It hands each accepted connection, as
a file descriptor over a Unix socket pair (``SCM_RIGHTS``), to the worker
process with the fewest open connections (the first of those after the last
one served, on a tie), and the worker serves it exactly as uvicorn serves a
connection it accepted itself. Workers report each connection that closes,
so the counts stay true. The parent only accepts: it never reads a byte of a
request.

The parent restarts a worker that dies once it was serving (its open
connections are lost with it, as they would be with uvicorn), and stops
everything when a worker fails before it could serve (the application did not
start) or on ``SIGINT``/``SIGTERM``, letting each worker finish its requests as
uvicorn does.

With ``embedded_scheduler`` (the default) the deadline scheduler runs in one
process of its own beside the workers (named ``ow-scheduler``), started,
restarted (at most every :data:`RESTART_SECONDS`) and stopped by the parent
(and ending by itself once the parent is gone), and the workers run no
scheduler thread (``scheduler_thread`` off; each still runs the webhook relay,
which wakes on its own process's commits). A scheduler thread in every worker
did the same rounds once per worker, and its rounds, a few hundred
milliseconds of Python every ``scheduler_interval_seconds``, took the
interpreter lock from the requests' loop: each statement a request ran while
the scheduler computed could wait up to a switch interval (5 ms) for the lock
again, holding SQLite's write lock meanwhile (measured in docs/benchmarks.md:
lifecycles per second with two workers, and their 99th percentile latency).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger("uvicorn.error")

READY, CLOSED, HANDED = b"+", b"-", b"c"
"""Messages on a worker's socket pair: the worker is serving; one of its connections closed; (from the parent,
with a descriptor) a connection to serve."""
ROUND_SECONDS = 0.5
"""The parent's longest wait between looking for ended workers (and after a failed accept)."""
STOP_SECONDS = 30.0
"""How long the parent waits for a worker to finish its requests on shut-down before killing it."""
RESTART_SECONDS = 10.0
"""The scheduler process is started again at most this often after it ended (one that cannot run is not
restarted in a tight loop)."""
SCHEDULER_NAME = "ow-scheduler"
"""The scheduler process's name as ``ps`` and ``top`` show it (Linux)."""


def least_loaded(open_connections: Sequence[int | None], after: int) -> int | None:
    """The index of the worker to hand the next connection to: the fewest open connections, and among those
    the first after index ``after`` (round robin on a tie). None marks a worker that is not running; the answer
    is None when no worker runs."""
    running = [n for n in open_connections if n is not None]
    if not running:
        return None
    fewest = min(running)
    count = len(open_connections)
    return next(index for index in ((after + step) % count for step in range(1, count + 1))
                if open_connections[index] == fewest)


@dataclass
class _Worker:
    """The parent's view of one worker process."""

    process: BaseProcess
    channel: socket.socket
    open: int = 0
    ready: bool = False

    @property
    def reachable(self) -> bool:
        """Whether its socket pair is still open (closed once the worker has ended)."""
        return self.channel.fileno() != -1


class Supervisor:
    """The parent process: accepts on the port, hands connections to workers, restarts and stops them."""

    def __init__(self, config: uvicorn.Config, workers: int, *, scheduler: bool = False) -> None:
        """``scheduler``: run the deadline scheduler in a process of its own beside the workers (which then run
        none)."""
        if workers < 2:
            raise ValueError("a supervisor runs two or more workers")
        self.config = config
        self.count = workers
        self.with_scheduler = scheduler
        self.scheduler: BaseProcess | None = None
        self.scheduler_started = 0.0
        self.workers: list[_Worker] = []
        self.last = -1
        self.should_exit = False
        self.failed = False
        self.paused_until: float | None = None
        self.selector = selectors.DefaultSelector()
        self._context = multiprocessing.get_context("spawn")

    def run(self) -> int:
        """Serve until stopped; the exit status (0, or uvicorn's start-up failure status)."""
        listener = self.config.bind_socket()  # logs where it listens, as uvicorn does
        listener.listen(self.config.backlog)
        listener.setblocking(False)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        logger.info("Started parent process [%d], handing connections to %d workers", os.getpid(), self.count)
        self.workers = [self._start() for _ in range(self.count)]
        if self.with_scheduler:
            self._start_scheduler()
        self.selector.register(listener, selectors.EVENT_READ, None)
        try:
            while not self.should_exit:
                ready = [key.data for key, _ in self.selector.select(timeout=ROUND_SECONDS)]
                for worker in ready:  # what the workers report first: a closed connection frees a place
                    if worker is not None:
                        self._hear(worker)
                if None in ready:
                    self._accept(listener)
                self._resume_accepting(listener)
                self._replace_dead()
                self._restart_scheduler()
        finally:
            if self.paused_until is None:
                self.selector.unregister(listener)
            listener.close()
            self._stop_children()
        return STARTUP_FAILURE if self.failed else 0

    def _stop(self, _signum, _frame) -> None:
        self.should_exit = True

    def _start(self) -> _Worker:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = self._context.Process(target=_serve_handed, args=(self.config, child_end, self.with_scheduler),
                                        daemon=False)
        process.start()
        child_end.close()
        parent_end.setblocking(False)
        worker = _Worker(process, parent_end)
        self.selector.register(parent_end, selectors.EVENT_READ, worker)
        return worker

    def _start_scheduler(self) -> None:
        self.scheduler = self._context.Process(target=_schedule, args=(self.config,), daemon=False)
        self.scheduler.start()
        self.scheduler_started = time.monotonic()

    def _restart_scheduler(self) -> None:
        """Start the scheduler process again once it has ended, at most every :data:`RESTART_SECONDS`."""
        process = self.scheduler
        if (process is None or self.should_exit or process.is_alive()
                or time.monotonic() < self.scheduler_started + RESTART_SECONDS):
            return
        process.join()
        logger.warning("the scheduler process [%d] ended (exit status %s): starting another", process.pid,
                       process.exitcode)
        self._start_scheduler()

    def _accept(self, listener: socket.socket) -> None:
        """Hand every connection waiting on the port to a worker. When accepting fails (out of file
        descriptors, say), accepting pauses for a round: the connections wait in the kernel's queue."""
        while True:
            try:
                connection, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.warning("accepting a connection failed: %s", exc)
                self.selector.unregister(listener)
                self.paused_until = time.monotonic() + ROUND_SECONDS
                return
            with connection:
                self._hand(connection)

    def _resume_accepting(self, listener: socket.socket) -> None:
        if self.paused_until is not None and time.monotonic() >= self.paused_until:
            self.paused_until = None
            self.selector.register(listener, selectors.EVENT_READ, None)

    def _hand(self, connection: socket.socket) -> None:
        """Give ``connection`` to the least loaded running worker that can take it now (a worker busy for a
        while may have a full socket pair: the next one is tried). The caller closes the parent's copy, so
        the connection is dropped when no worker can take it."""
        refused: set[int] = set()
        while True:
            loads = [w.open if w.reachable and i not in refused else None for i, w in enumerate(self.workers)]
            index = least_loaded(loads, self.last)
            if index is None:
                logger.warning("no worker could take a connection: it was dropped")
                return
            worker = self.workers[index]
            try:
                socket.send_fds(worker.channel, [HANDED], [connection.fileno()])
            except OSError as exc:  # full (BlockingIOError), or the worker has just ended
                logger.warning("handing a connection to worker [%d] failed: %s", worker.process.pid, exc)
                refused.add(index)
                continue
            worker.open += 1
            self.last = index
            return

    def _hear(self, worker: _Worker) -> None:
        """Read what a worker reports; an ended socket pair means the worker has ended."""
        while True:
            try:
                message = worker.channel.recv(16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message = b""
            if not message:
                self._forget(worker)
                return
            if message == READY:
                worker.ready = True
            elif message == CLOSED:
                worker.open = max(0, worker.open - 1)

    def _replace_dead(self) -> None:
        for index, worker in enumerate(self.workers):
            if worker.process.is_alive() or self.should_exit:
                continue
            worker.process.join()
            self._forget(worker)
            if not worker.ready:  # it never served: the application cannot start, a new one would fail alike
                logger.error("worker [%d] failed to start (exit status %s): stopping", worker.process.pid,
                             worker.process.exitcode)
                self.failed = self.should_exit = True
                return
            logger.warning("worker [%d] died (exit status %s): starting another", worker.process.pid,
                           worker.process.exitcode)
            self.workers[index] = self._start()

    def _stop_children(self) -> None:
        """Ask every worker (and the scheduler process) to finish what it is doing and end; kill those still
        running after STOP_SECONDS."""
        processes = [worker.process for worker in self.workers]
        if self.scheduler is not None:
            processes.append(self.scheduler)
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                logger.warning("process [%d] did not stop in time: killing it", process.pid)
                process.kill()
                process.join()
        for worker in self.workers:
            self._forget(worker)

    def _forget(self, worker: _Worker) -> None:
        if worker.reachable:
            self.selector.unregister(worker.channel)
            worker.channel.close()


class HandedServer(uvicorn.Server):
    """A uvicorn server that listens on no port: it serves the connections its parent hands it."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the application's start-up; no listening socket
        if not self.started:
            return
        counted = _counting(self.config.http_protocol_class, self._closed)
        self._protocol = partial(counted, config=self.config, server_state=self.server_state,
                                 app_state=self.lifespan.state)
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self._take)
        self._tell(READY)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.channel.fileno() != -1:
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        await super().shutdown(sockets=sockets)

    def _take(self) -> None:
        """Serve each connection the parent handed over; the parent gone, stop."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, descriptors, _flags, _address = socket.recv_fds(self.channel, 16, 8)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, descriptors = b"", []
            if not message and not descriptors:
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for descriptor in descriptors:
                connection = socket.socket(fileno=descriptor)
                connection.setblocking(False)
                loop.create_task(loop.connect_accepted_socket(self._protocol, connection))

    def _closed(self) -> None:
        self._tell(CLOSED)

    def _tell(self, message: bytes) -> None:
        try:
            self.channel.send(message)
        except OSError:  # the parent is gone: _take sees the end and stops the server
            pass


def _counting(protocol_class: type, on_close) -> type:
    """``protocol_class`` that calls ``on_close()`` once its connection is lost."""

    class Counted(protocol_class):  # type: ignore[misc, valid-type]
        def connection_lost(self, exc: Exception | None) -> None:
            try:
                super().connection_lost(exc)
            finally:
                on_close()

    return Counted


def _serve_handed(config: uvicorn.Config, channel: socket.socket, scheduler_beside: bool) -> None:
    """A worker process: serve what the parent hands over (with no scheduler thread when ``scheduler_beside``:
    the scheduler process runs it)."""
    if scheduler_beside:
        os.environ["ONEWINDOW_SCHEDULER_THREAD"] = "false"  # read by the application's settings, made next
    config.configure_logging()
    HandedServer(config, channel).run()
    channel.close()


def _schedule(config: uvicorn.Config) -> None:
    """The scheduler process: the deadline scheduler (:class:`onewindow.scheduler.Scheduler`) on the
    application's settings and clock, until ``SIGTERM`` or ``SIGINT``, or until the parent is gone (killed:
    this process is then another's child); its round under way ends first."""
    from onewindow.clock import clock_from_settings
    from onewindow.config import get_settings
    from onewindow.db import make_engine, make_session_factory
    from onewindow.scheduler import Scheduler

    parent = os.getppid()
    config.configure_logging()
    _name_process(SCHEDULER_NAME)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=2)
    scheduler = Scheduler(make_session_factory(engine), clock_from_settings(settings), settings)
    scheduler.start()
    try:
        while not stopping.wait(ROUND_SECONDS) and os.getppid() == parent:
            pass
    finally:
        scheduler.stop(STOP_SECONDS)
        engine.dispose()


def _name_process(name: str) -> None:
    """Show this process as ``name`` in ``ps`` and ``top`` (Linux; elsewhere nothing)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name)
    except OSError:
        pass


def serve(config: uvicorn.Config, workers: int, *, scheduler: bool = False) -> None:
    """Run ``workers`` server processes with ``config`` behind this process, which accepts; exits when they
    have stopped (status 3 when the application could not start). ``scheduler``: with two or more workers,
    the deadline scheduler runs in a process of its own beside them (one worker alone runs it in a thread, as
    its settings say)."""
    if workers < 2:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    sys.exit(Supervisor(config, workers, scheduler=scheduler).run())
