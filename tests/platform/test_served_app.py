"""The application as `onewindow serve` builds it: start-up objects frozen, collector thresholds raised."""

from __future__ import annotations

import gc

from onewindow.app import COLLECTOR_THRESHOLDS, served_app
from onewindow.config import get_settings


def test_the_served_application_tunes_the_collector(monkeypatch, tmp_path):
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", f"sqlite:///{tmp_path / 'ow.db'}")
    get_settings.cache_clear()
    before = gc.get_threshold()
    try:
        app = served_app()
        assert app.title == "OneWindow"
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        get_settings.cache_clear()
