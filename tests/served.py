"""``onewindow serve`` in a subprocess, for the tests that need the real command (its processes, a kill)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

import httpx


def free_port() -> int:
    """A loopback port free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``onewindow serve`` with ``args`` on a free loopback port of its own and the database at
    ``database_url``, the environment's variables and ``env`` set (log level WARNING unless ``env`` says).

    :meth:`launch` starts the process; :meth:`start` also waits until it serves (and may follow a :meth:`kill`:
    the same port again); :meth:`stop` ends it as an operator would.
    """

    def __init__(self, database_url: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "onewindow.cli", "serve", "--port", str(self.port), *args]
        self.env = {**os.environ, "ONEWINDOW_DATABASE_URL": database_url, "ONEWINDOW_LOG_LEVEL": "WARNING",
                    **(env or {})}
        self.proc: subprocess.Popen | None = None

    def launch(self) -> None:
        self.proc = subprocess.Popen(self.command, env=self.env)

    def start(self, within: float = 60) -> None:
        self.launch()
        self.wait_until(self.answers_health_check, within, "the server did not start")

    def wait_until(self, ready: Callable[[], bool], within: float, failure: str) -> None:
        """Until ``ready()`` (asked every 0.1 s); an :class:`AssertionError` with ``failure`` after ``within``
        seconds, or at once when the process exits meanwhile."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server exited with status {self.proc.returncode}"
            if ready():
                return
            time.sleep(0.1)
        raise AssertionError(f"{failure} within {within:g} s")

    def answers_health_check(self) -> bool:
        try:
            return httpx.get(self.base + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, as an operator stops it; its exit status (None if it never started). Killed, and the
        :class:`subprocess.TimeoutExpired` raised, if it has not ended within 40 s."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise
        return self.proc.returncode
