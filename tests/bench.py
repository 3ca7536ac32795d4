"""The benchmarks' own modules (``bench/``), imported for the tests that hold their helpers to account."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "bench"


def bench_module(name: str):
    """The module ``bench/<name>.py`` (imported as the benchmarks import each other: by its plain name)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))
