"""Web logins made by the CLI (``onewindow user add``) and by the demo (both databases)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onewindow.cli import app as cli_app
from onewindow.config import get_settings
from onewindow.demo import DEMO_PASSWORD, ORGANISATIONS, load_demo


@pytest.fixture
def cli(db, database_url, monkeypatch):
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, input=None: runner.invoke(cli_app, list(args), input=input)
    get_settings.cache_clear()


def _sign_in(client, pages, code: str, user: str, password: str):
    return client.post("/login", data={"organisation": code, "user": user, "password": password,
                                       "csrf_token": pages.csrf(client)}, follow_redirects=False)


def test_user_add_sets_a_password_that_signs_in(cli, client, pages):
    result = cli("user", "add", "--org", "0916", "--name", "li.wei", "--role", "viewer", "--password",
                 "s3cret-passphrase")
    assert result.exit_code == 0, result.stderr
    assert "li.wei (viewer)" in result.stdout
    assert _sign_in(client, pages, "0916", "li.wei", "wrong-passphrase").status_code == 400
    assert _sign_in(client, pages, "0916", "li.wei", "s3cret-passphrase").status_code == 303
    assert "li.wei" in client.get("/").text


def test_user_add_prompts_for_the_password_when_it_is_not_given(cli, client, pages):
    result = cli("user", "add", "--org", "0916", "--name", "zhang", input="prompted-secret\nprompted-secret\n")
    assert result.exit_code == 0, result.stderr
    assert _sign_in(client, pages, "0916", "zhang", "prompted-secret").status_code == 303


@pytest.mark.parametrize("args, field", [
    (["--org", "0916", "--name", "li", "--password", "short"], "password"),
    (["--org", "0916", "--name", "li", "--password", "long-enough", "--role", "declarant"], "role"),
])
def test_user_add_refuses_bad_input_naming_the_field(cli, pages, args, field):
    result = cli("user", "add", *args)
    assert result.exit_code == 1
    assert [d["loc"] for d in json.loads(result.stderr)["error"]["details"]] == [[field]]


def test_every_demo_login_signs_in_on_the_web(run, db, settings, clock):
    from fastapi.testclient import TestClient

    from onewindow.app import create_app
    from onewindow.web.page import CSRF_COOKIE

    logins = run(load_demo)
    assert [(l.code, l.user) for l in logins] == [(code, user) for _k, code, _n, _p, _c, user in ORGANISATIONS]
    for login in logins:
        assert DEMO_PASSWORD in login.web() and login.code in login.web()
        with TestClient(create_app(settings, clock=clock, engine=db)) as client:
            client.get("/login")
            response = client.post("/login", data={"organisation": login.code, "user": login.user,
                                                   "password": DEMO_PASSWORD,
                                                   "csrf_token": client.cookies[CSRF_COOKIE]},
                                   follow_redirects=False)
            assert response.status_code == 303, (login, response.text)


def test_demo_prints_the_web_logins(cli):
    result = cli("demo", "--no-serve")
    assert result.exit_code == 0, result.stderr
    assert "/login" in result.stdout
    web = result.stdout.split("Web sign-in", 1)[1]
    assert web.count(DEMO_PASSWORD) == len(ORGANISATIONS)
