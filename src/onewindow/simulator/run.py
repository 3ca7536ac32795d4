"""Running the simulator: against a platform at a URL, or (``compare``) on two platforms it starts itself.

``compare`` starts ``onewindow serve`` twice, one after the other, each on a
free loopback port with a fresh SQLite database under a temporary directory,
the same accelerated clock (same start and speed) and the scheduler looking
for deadlines every 0.2 real seconds; the first matches decisions into joint
inspections, the second not (``ONEWINDOW_JOINT_INSPECTION=false``). The same
seeded traffic is played on both and the figures are put side by side.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from onewindow.simulator.client import Api, PlatformError, SimTime
from onewindow.simulator.driver import Driver, Outcome
from onewindow.simulator.measure import Figures, collect, figures
from onewindow.simulator.parties import register, resolve
from onewindow.simulator.plan import Options, plan_traffic

CLOCK_START = "2026-03-02T08:00:00+08:00"
"""Where the simulated calendar of the platforms ``compare`` starts."""


@dataclass(frozen=True)
class Result:
    """One run: its figures, what the driver saw, and how long it took."""

    figures: Figures
    outcome: Outcome
    joint_inspection: bool | None
    requests: int
    wall_seconds: float
    speed: float = 1.0
    latencies: tuple[float, ...] = ()

    def latency_ms(self, share: float) -> float:
        """The request time (real milliseconds) that ``share`` of the requests took at most."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def simulate(url: str, tokens: dict[str, str], options: Options,
                   done: Callable[[int], None] = lambda _i: None) -> Result:
    """Play the traffic of ``options`` on the platform at ``url`` as the parties of ``tokens``; measure it."""
    began = time.monotonic()
    api = Api(url, tokens, options.concurrency)
    try:
        health = (await api.http.get("/healthz")).json()
        sim_time = await SimTime.of(api.http)
        parties = await resolve(api)
        outcome = await Driver(api, sim_time, parties, plan_traffic(options), done).run()
        records = await collect(api, outcome)
    except httpx.HTTPError as error:
        raise PlatformError(f"the platform at {url} does not answer: {error.__class__.__name__}: {error}") from None
    finally:
        await api.close()
    return Result(figures=figures(records, failures=len(outcome.failures)), outcome=outcome,
                  joint_inspection=health.get("joint_inspection"), requests=api.requests,
                  wall_seconds=time.monotonic() - began, speed=sim_time.speed, latencies=tuple(api.latencies))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """``onewindow serve`` in a subprocess on a free loopback port, on its own database and accelerated clock.

    The database is migrated and the simulated parties registered before the
    server starts (``tokens``). Use as a context manager; the server is stopped
    on leaving.
    """

    def __init__(self, database_url: str, *, speed: float, joint: bool, log: Path | None = None) -> None:
        from onewindow.db import make_engine
        from onewindow.migrate import upgrade

        engine = make_engine(database_url, pool_size=1)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        self.tokens = register(database_url)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "ONEWINDOW_DATABASE_URL": database_url, "ONEWINDOW_CLOCK_SPEED": f"{speed:g}",
                    "ONEWINDOW_CLOCK_START": CLOCK_START, "ONEWINDOW_JOINT_INSPECTION": str(joint).lower(),
                    "ONEWINDOW_EMBEDDED_SCHEDULER": "true", "ONEWINDOW_SCHEDULER_INTERVAL_SECONDS": "0.2",
                    "ONEWINDOW_LOG_LEVEL": "WARNING"}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Platform:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, "-m", "onewindow.cli", "serve", "--port", str(self.port)],
                                     env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PlatformError(f"the platform on port {self.port} exited while starting "
                                    f"(status {self.proc.returncode})")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise PlatformError(f"the platform on port {self.port} did not start within 60 s")

    def __exit__(self, *_exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def compare(options: Options, done: Callable[[str, int], None] = lambda _m, _i: None,
            workdir: str | None = None) -> dict[str, Result]:
    """The same traffic on a platform matching decisions (``joint``) and one that does not (``serial``)."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="onewindow-simulate-", dir=workdir) as tmp:
        for mode, joint in (("joint", True), ("serial", False)):
            url = f"sqlite:///{Path(tmp) / f'{mode}.db'}"
            with Platform(url, speed=options.speed, joint=joint, log=Path(tmp) / f"{mode}.log") as platform:
                results[mode] = asyncio.run(simulate(platform.url, platform.tokens, options,
                                                     lambda i, m=mode: done(m, i)))
    return results
