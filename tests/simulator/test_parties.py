"""Registering the simulated parties in a platform's database."""

from __future__ import annotations

from sqlalchemy import func, select

from onewindow.db import make_engine
from onewindow.migrate import upgrade
from onewindow.models import ApiToken, Organisation
from onewindow.simulator.parties import register


def test_register_twice_reuses_the_organisations(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    first, second = register(url), register(url)
    assert sorted(first) == sorted(second) == ["ciq", "customs", "enterprise:0", "enterprise:1", "enterprise:2",
                                                "terminal"]
    assert set(first.values()).isdisjoint(second.values())  # fresh tokens each time
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(Organisation.kind, func.count()).group_by(Organisation.kind)).all())
        tokens = conn.execute(select(func.count()).select_from(ApiToken)).scalar_one()
    engine.dispose()
    assert kinds == {"customs": 1, "ciq": 1, "terminal": 1, "enterprise": 3}
    assert tokens == 12
