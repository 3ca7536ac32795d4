"""The ``onewindow`` command stopped before it could work (bad settings, a database it cannot reach or open):
one error in the API's shape naming the setting, status 1, no traceback. Run as the operator runs it, in a
process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

UNREACHABLE = "postgresql://postgres:s3cret@127.0.0.1:1/nowhere"  # nothing listens on port 1


def onewindow(tmp_path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEWINDOW_")}
    env.update({"ONEWINDOW_DATABASE_URL": f"sqlite:///{tmp_path / 'ow.db'}", **settings})
    return subprocess.run([sys.executable, "-m", "onewindow.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def stopped(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stderr)
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message", "details"}
    return doc["error"]


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("ONEWINDOW_DATABASE_POOL_SIZE", "abc", "valid integer"),
    ("ONEWINDOW_CLOCK_SPEED", "inf", "finite number"),
    ("ONEWINDOW_DATABASE_URL", "foo://bar/baz", "SQLite"),
    ("ONEWINDOW_DATABASE_URL", "notaurl", "not a database URL"),
    ("ONEWINDOW_BROKER_URL", "notaurl", "not an AMQP URL"),
    ("ONEWINDOW_LOG_LEVEL", "LOUD", "not a log level"),
    ("ONEWINDOW_DEFAULT_TIME_ZONE", "Mars/Olympus", "not a time zone"),
    ("ONEWINDOW_CLEARANCE_TIMEZONE", "Mars/Olympus", "not a time zone"),
    ("ONEWINDOW_MATCH_WINDOW_SECONDS", "-1", "greater than or equal to 0"),
    ("ONEWINDOW_WEBHOOK_ALLOWED_HOSTS", "hooks.example.com,999.1.1.1/77,@@", "'999.1.1.1/77', '@@': neither a host"),
    ("ONEWINDOW_WEBHOOK_RETRY_MAX_SECONDS", "1", "at least ONEWINDOW_WEBHOOK_RETRY_BASE_SECONDS (10)"),
])
def test_a_bad_setting_is_named_in_one_error(tmp_path, setting, value, says):
    error = stopped(onewindow(tmp_path, "init", **{setting: value}))
    assert error["code"] == "invalid_settings"
    [detail] = error["details"]
    assert detail["loc"] == [setting] and says in detail["msg"], detail
    assert setting in error["message"]
    assert not (tmp_path / "ow.db").exists()


@pytest.mark.parametrize("command", [["worker", "--once"], ["demo", "--no-serve"], ["token", "list", "--org", "X"]])
def test_an_unreachable_database_is_one_error_without_its_password(tmp_path, command):
    error = stopped(onewindow(tmp_path, *command, ONEWINDOW_DATABASE_URL=UNREACHABLE))
    assert error["code"] in ("database_error", "not_initialised")
    assert "127.0.0.1" in error["message"] and "s3cret" not in error["message"]


def test_a_database_file_that_cannot_be_made_is_one_error(tmp_path):
    (tmp_path / "file").write_text("")
    error = stopped(onewindow(tmp_path, "init", ONEWINDOW_DATABASE_URL=f"sqlite:///{tmp_path / 'file' / 'ow.db'}"))
    assert error["code"] == "os_error" and str(tmp_path / "file") in error["message"]


def test_following_the_feed_needs_a_positive_interval(tmp_path):
    result = onewindow(tmp_path, "events", "tail", "--org", "0916", "--follow", "--interval", "-1")
    assert result.returncode == 2 and "--interval" in result.stderr


def test_a_server_does_not_start_on_a_database_never_initialised(tmp_path):
    error = stopped(onewindow(tmp_path, "serve", "--port", "1"))  # refused before it would listen
    assert error["code"] == "not_initialised" and "onewindow init" in error["message"]


def test_a_database_of_an_older_schema_is_refused_until_it_is_upgraded(tmp_path):
    from alembic import command

    from onewindow.db import make_engine
    from onewindow.migrate import alembic_config, head_revision

    engine = make_engine(f"sqlite:///{tmp_path / 'ow.db'}", pool_size=1)
    with engine.connect() as conn:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
    engine.dispose()
    for command_line in (["token", "list", "--org", "X"], ["worker", "--once"], ["serve", "--port", "1"]):
        error = stopped(onewindow(tmp_path, *command_line))
        assert error["code"] == "not_upgraded", command_line
        assert "0007" in error["message"] and head_revision() in error["message"]
    assert onewindow(tmp_path, "init").returncode == 0
    assert onewindow(tmp_path, "token", "list", "--org", "X").returncode == 1  # now only the organisation is unknown


@pytest.mark.parametrize(("content", "says"), [
    (None, "No such file"),
    ("hs_prefix,x\n", "line 1: header must be"),
    ("hs_prefix,category,name_zh,name_en\n0199,food_safety,a,b\n", "line 2: hs_prefix '0199' is not an HS 2022"),
])
def test_a_catalogue_that_does_not_load_stops_the_server_and_the_worker(tmp_path, content, says):
    catalogue = tmp_path / "catalogue.csv"
    if content is not None:
        catalogue.write_text(content)
    assert onewindow(tmp_path, "init").returncode == 0
    for command_line in (["worker", "--once"], ["serve", "--port", "1"]):
        error = stopped(onewindow(tmp_path, *command_line, ONEWINDOW_INSPECTION_CATALOGUE=str(catalogue)))
        assert error["code"] == "invalid_settings" and says in error["message"], error
        assert error["details"][0]["loc"] == ["ONEWINDOW_INSPECTION_CATALOGUE"]
