"""The simulator's side of the wire: an HTTP client acting as each party, and the platform's simulated time.

Time design: the platform tells its time and clock speed at ``GET /healthz``
(``time``, ``clock_speed``). :class:`SimTime` reads it once and from then on
runs its own :class:`~onewindow.clock.AcceleratedClock` from that reading, so
the parties act on the platform's simulated time without asking for it
again (the drift is the round trip of one request times the speed).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from onewindow.clock import AcceleratedClock

API = "/api/v1"
RETRIED = {502, 503, 504}


class PlatformError(Exception):
    """The platform answered something the simulated party cannot go on from (or did not answer)."""


class SimTime:
    """The platform's simulated time, followed locally at its clock speed."""

    def __init__(self, now: datetime, speed: float) -> None:
        self.speed = speed
        self.clock = AcceleratedClock(now, speed)

    @classmethod
    async def of(cls, http: httpx.AsyncClient) -> SimTime:
        """Read ``/healthz`` and follow the platform's time from there (half the round trip added)."""
        sent = time.monotonic()
        answer = await http.get("/healthz")
        if answer.status_code != 200:
            raise PlatformError(f"GET /healthz answered {answer.status_code}: {answer.text[:200]}")
        body = answer.json()
        if "time" not in body or "clock_speed" not in body:
            raise PlatformError("GET /healthz does not tell the platform's time and clock speed; "
                                "the platform is older than the simulator")
        now = datetime.fromisoformat(body["time"])
        speed = float(body["clock_speed"])
        return cls(now + timedelta(seconds=(time.monotonic() - sent) / 2 * speed), speed)

    def now(self) -> datetime:
        return self.clock.now()

    async def sleep(self, simulated: float) -> None:
        """Wait ``simulated`` seconds of platform time."""
        if simulated > 0:
            await asyncio.sleep(simulated / self.speed)

    async def until(self, when: datetime) -> None:
        """Wait until the platform's time is ``when`` (at once if it has passed)."""
        await self.sleep((when - self.now()).total_seconds())


class Api:
    """Requests to the platform as a named party, at most ``concurrency`` at a time.

    A 502/503/504 or a dropped connection is retried a few times; any other
    answer outside ``expect`` raises :class:`PlatformError` unless its error
    code is in ``tolerate`` (then the error body is returned).
    """

    def __init__(self, base_url: str, tokens: dict[str, str], concurrency: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=60,
                                      limits=httpx.Limits(max_connections=concurrency))
        self._slots = asyncio.Semaphore(concurrency)
        self.requests = 0
        self.latencies: list[float] = []
        """Real seconds each answered request took (waiting for a free slot not counted)."""

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, party: str, method: str, path: str, *, json: Any = None,
                   expect: tuple[int, ...] = (200, 201), tolerate: tuple[str, ...] = ()) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[party]}"}
        for attempt in range(6):
            try:
                async with self._slots:
                    self.requests += 1
                    sent = time.monotonic()
                    answer = await self.http.request(method, API + path, json=json, headers=headers)
                    self.latencies.append(time.monotonic() - sent)
            except httpx.TransportError as error:
                if attempt == 5:
                    raise PlatformError(f"{method} {path} as {party}: {error.__class__.__name__}: {error}") from None
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if answer.status_code in RETRIED and attempt < 5:
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            break
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else None
        if answer.status_code in expect:
            return body
        code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
        if code in tolerate:
            return body
        message = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else answer.text[:200]
        raise PlatformError(f"{method} {path} as {party}: {answer.status_code} {code or ''} {message}".strip())
