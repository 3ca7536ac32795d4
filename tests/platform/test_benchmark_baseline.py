"""The filings benchmark compares the platform with a bare SQL baseline: both must write the same rows."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from onewindow.app import create_app
from onewindow.config import Settings
from onewindow.samples import sample_entry
from tests.bench import bench_module

LOGINS = {"api_tokens", "users"}  # the platform's caller; the baseline has none to authenticate


def _rows_per_table(url: str) -> dict[str, int]:
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        connection.close()
    return {t: n for t, n in counts.items() if n and t not in LOGINS}


def test_the_bare_sql_baseline_writes_the_rows_the_platform_writes(tmp_path):
    filings, common = bench_module("filings"), bench_module("common")
    entries = [sample_entry(containers=2, items=5, seed=i) for i in range(4)]
    platform_url, baseline_url = f"sqlite:///{tmp_path}/platform.db", f"sqlite:///{tmp_path}/baseline.db"
    token, offices = filings.prepare(platform_url)
    app = create_app(Settings(database_url=platform_url, embedded_scheduler=False))
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
               (b"host", b"test")]

    async def file_all() -> None:
        async with app.router.lifespan_context(app):
            for entry in entries:
                status, body = await common.asgi_request(app, "POST", "/api/v1/filings", headers,
                                                         json.dumps(entry).encode())
                assert status == 201, body
                status, body = await common.asgi_request(app, "POST", f"/api/v1/filings/{json.loads(body)['id']}"
                                                         "/submit", headers)
                assert status == 200, body

    asyncio.run(file_all())
    filings.baseline(baseline_url, entries, offices)
    written = _rows_per_table(platform_url)
    assert written["declaration_containers"] == 4 * 2 * 2 and written["events"] == 4 * 3
    assert _rows_per_table(baseline_url) == written
