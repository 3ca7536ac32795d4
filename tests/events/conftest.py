"""Fixtures of the event tests: webhook receivers on 127.0.0.1 (the one receiver of bench/receiver.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_receiver_module():
    name = "onewindow_bench_receiver"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[2] / "bench" / "receiver.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


receivers = _load_receiver_module()


@pytest.fixture
def receiver():
    """``receiver(respond=...)`` → a started :class:`Receiver`; every one is closed after the test."""
    made = []

    def make(respond=receivers.always_ok):
        made.append(receivers.Receiver(respond))
        return made[-1]

    yield make
    for r in made:
        r.close()
