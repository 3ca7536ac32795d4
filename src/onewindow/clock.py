"""The one clock of the platform.

Every piece of code that needs the current time asks a :class:`Clock`; tests
replace it with a :class:`FrozenClock` so deadlines (match window, check-in
grace) can be tested without waiting, and the traffic simulator runs the
platform on an :class:`AcceleratedClock` so they pass at an accelerated rate.
:func:`clock_from_settings` picks the clock from ``ONEWINDOW_CLOCK_SPEED`` and
``ONEWINDOW_CLOCK_START``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in UTC."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        self.set(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        """Move the clock forward and return the new time."""
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to ``when`` (an aware datetime; a naive one is refused)."""
        if when.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = when.astimezone(UTC)


class AcceleratedClock:
    """Simulated time: ``start`` when created, then ``speed`` simulated seconds per real second.

    Measured on the process's monotonic clock, so a change of the system time
    does not move it; safe to share between threads, and never goes back (two
    calls from any threads return non-decreasing times). ``speed`` 60 makes a
    two-hour match window pass in two real minutes.
    """

    def __init__(self, start: datetime, speed: float, *, monotonic=time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("AcceleratedClock needs an aware start time")
        if not speed > 0:
            raise ValueError(f"the clock speed must be greater than 0, not {speed}")
        self.start, self.speed = start.astimezone(UTC), float(speed)
        self._monotonic = monotonic
        self._origin = monotonic()
        self._last = self.start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            now = self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)
            if now > self._last:
                self._last = now
            return self._last

    def real_seconds(self, simulated: float) -> float:
        """How many real seconds ``simulated`` seconds take on this clock."""
        return simulated / self.speed


def clock_for(speed: float = 1.0, start: datetime | None = None) -> Clock:
    """The system clock at speed 1 with no start; otherwise an :class:`AcceleratedClock` from ``start``
    (default: now)."""
    if speed == 1.0 and start is None:
        return SystemClock()
    return AcceleratedClock(start or datetime.now(UTC), speed)


def clock_from_settings(settings) -> Clock:
    """The clock the settings ask for (``clock_speed``, ``clock_start``)."""
    return clock_for(settings.clock_speed, settings.clock_start)
