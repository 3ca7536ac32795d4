"""Signing in and out, sessions and form tokens, language and time zone (both databases)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from onewindow.models import WebSession
from onewindow.parties.service import digest

CUSTOMS = "0916"


def test_anonymous_pages_redirect_to_sign_in_with_the_way_back(client):
    response = client.get("/enterprise/filings?status=draft", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/enterprise/filings%3Fstatus%3Ddraft"
    htmx = client.post("/logout", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/login")


def test_sign_in_page_is_chinese_by_default_and_english_by_choice(client, pages):
    page = client.get("/login")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text and "登录" in page.text
    token = pages.csrf(client)
    switched = client.post("/preferences", data={"language": "en", "zone": "Europe/London", "back": "/login",
                                                 "csrf_token": token}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    english = client.get("/login")
    assert '<html lang="en">' in english.text and "Sign in" in english.text and "登录" not in english.text
    assert 'value="Europe/London" selected' in english.text


def test_a_wrong_password_signs_nobody_in(client, pages, run):
    token = pages.csrf(client)
    response = client.post("/login", data={"organisation": CUSTOMS, "user": "staff", "password": "wrong-password",
                                           "csrf_token": token})
    assert response.status_code == 400 and 'id="login-error"' in response.text
    assert 'value="0916"' in response.text  # what was typed is kept, except the password
    unknown = client.post("/login", data={"organisation": "9999", "user": "staff", "password": "wrong-password",
                                          "csrf_token": token})
    assert unknown.status_code == 400
    assert "ow_session" not in client.cookies
    assert run(lambda ctx: ctx.session.scalars(select(WebSession)).all()) == []


def test_signing_in_keeps_a_session_row_and_an_httponly_lax_cookie(client, pages, run):
    response = pages.sign_in(client, CUSTOMS)
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("ow_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    token = client.cookies["ow_session"]
    rows = run(lambda ctx: ctx.session.scalars(select(WebSession)).all())
    assert [r.digest for r in rows] == [digest(token)]  # only the digest is stored
    home = client.get("/")
    assert home.status_code == 200 and "大窑湾海关" in home.text and "staff" in home.text


def test_a_form_without_its_token_is_refused(client, pages):
    refused = client.post("/login", data={"organisation": CUSTOMS, "user": "staff", "password": "x" * 10})
    assert refused.status_code == 403
    pages.sign_in(client, CUSTOMS)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    assert client.get("/").status_code == 200  # still signed in


def test_sign_out_revokes_the_session(client, pages, run):
    pages.sign_in(client, CUSTOMS)
    stolen = client.cookies["ow_session"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert run(lambda ctx: ctx.session.scalars(select(WebSession)).one().revoked_at) is not None
    client.cookies.set("ow_session", stolen)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_session_expires_after_its_hours_unused(client, pages, clock, settings):
    pages.sign_in(client, CUSTOMS)
    clock.advance(hours=settings.session_hours / 2)
    assert client.get("/").status_code == 200  # use extends it
    clock.advance(hours=settings.session_hours - 0.1)
    assert client.get("/").status_code == 200
    clock.advance(hours=settings.session_hours + 0.1)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"


def test_the_next_target_stays_on_this_site(client, pages):
    token = pages.csrf(client)
    response = client.post("/login", data={"organisation": CUSTOMS, "user": "staff", "password":
                                           "correct horse battery", "csrf_token": token,
                                           "next": "//evil.example/x"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_static_files_are_served(client):
    assert client.get("/static/vendor/htmx/htmx.min.js").status_code == 200
    assert "pico" in client.get("/static/vendor/pico/pico.min.css").text[:200].lower()


def test_htmx_requests_send_the_token_in_a_header(client, pages):
    pages.sign_in(client, CUSTOMS)
    home = client.get("/").text
    token = re.search(r'hx-headers=\'\{"X-CSRF-Token": "([^"]+)"\}\'', home).group(1)
    assert token == re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    out = client.post("/logout", headers={"X-CSRF-Token": token, "HX-Request": "true"}, follow_redirects=False)
    assert out.status_code == 204 and out.headers["HX-Redirect"] == "/login"


def test_only_real_languages_and_zones_are_remembered(client, pages):
    token = pages.csrf(client)
    response = client.post("/preferences", data={"language": "fr", "zone": "Mars/Olympus", "back": "/status",
                                                 "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and "set-cookie" not in response.headers
    page = client.get("/status")
    assert '<html lang="zh-CN">' in page.text and 'value="Asia/Shanghai" selected' in page.text


def test_each_kind_of_user_lands_on_its_daily_work(app, pages):
    pages.add_user("DCT", "watcher", "viewer")
    landing = {("91210200MA0QK1P3AF", "staff"): "/enterprise/filings", (CUSTOMS, "staff"): "/customs/declarations",
               ("210600", "staff"): "/ciq/declarations", ("DCT", "staff"): "/terminal/tasks",
               ("DCT", "watcher"): None, ("PORTOFFICE", "staff"): None}
    for (code, user), target in landing.items():
        with TestClient(app) as caller:
            pages.sign_in(caller, code, user)
            home = caller.get("/", follow_redirects=False)
            if target is None:  # no work page this role may open: the home page itself
                assert home.status_code == 200, (code, user)
            else:
                assert home.status_code == 303 and home.headers["location"] == target, (code, user)
                assert caller.get(target).status_code == 200, (code, user)


def _try(client, pages, password: str, user: str = "staff"):
    return client.post("/login", data={"organisation": CUSTOMS, "user": user, "password": password,
                                       "csrf_token": pages.csrf(client)}, follow_redirects=False)


def test_too_many_wrong_passwords_pause_that_users_sign_in(client, pages, clock, settings, run):
    pages.add_user(CUSTOMS, "colleague", "officer")
    for _ in range(settings.sign_in_attempts - 1):
        assert _try(client, pages, "wrong-password").status_code == 400
    paused = _try(client, pages, "wrong-password")
    assert paused.status_code == 429 and 'id="login-error"' in paused.text and "已暂停" in paused.text
    assert int(paused.headers["Retry-After"]) == settings.sign_in_pause_minutes * 60
    refused = _try(client, pages, "correct horse battery")  # even the right password waits out the pause
    assert refused.status_code == 429 and "ow_session" not in client.cookies
    assert _try(client, pages, "correct horse battery", user="colleague").status_code == 303  # others unaffected
    client.cookies.clear()
    clock.advance(minutes=settings.sign_in_pause_minutes + 1)
    assert _try(client, pages, "correct horse battery").status_code == 303


def test_a_right_password_starts_the_count_again(client, pages, settings, run):
    from onewindow.models import User

    for _ in range(settings.sign_in_attempts - 1):
        _try(client, pages, "wrong-password")
    assert _try(client, pages, "correct horse battery").status_code == 303
    counts = run(lambda ctx: ctx.session.scalars(select(User.failed_sign_ins).where(User.name == "staff")).all())
    assert set(counts) == {0}
    client.cookies.clear()
    assert _try(client, pages, "wrong-password").status_code == 400  # one wrong again: no pause


def test_a_new_password_lifts_a_pause(client, pages, settings):
    for _ in range(settings.sign_in_attempts):
        _try(client, pages, "wrong-password")
    assert _try(client, pages, "correct horse battery").status_code == 429
    pages.add_user(CUSTOMS, "staff", "officer")  # the operator sets the password again
    assert _try(client, pages, "correct horse battery").status_code == 303


def test_housekeeping_deletes_sessions_ended_long_ago(client, pages, clock, settings, db, run):
    from onewindow.db import make_session_factory
    from onewindow.scheduler import housekeeping

    pages.sign_in(client, CUSTOMS)  # ended by signing out below
    token = pages.csrf(client)
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    clock.advance(hours=1)
    with TestClient(client.app) as other:
        pages.sign_in(other, CUSTOMS)  # left to expire
    factory = make_session_factory(db)
    assert housekeeping(factory, clock, settings) == {"web_sessions_deleted": 0}  # both kept for a while
    clock.advance(days=settings.session_retention_days, hours=settings.session_hours - 0.5)
    assert housekeeping(factory, clock, settings) == {"web_sessions_deleted": 1}  # the revoked one
    clock.advance(hours=1)
    assert housekeeping(factory, clock, settings) == {"web_sessions_deleted": 1}  # the expired one
    assert run(lambda ctx: ctx.session.scalars(select(WebSession)).all()) == []


def marked_catalogue(monkeypatch) -> None:
    """Messages of errors (``Text``) translated by a catalogue that marks each one ``«...»``: a message that goes
    through the catalogue shows marked on a Chinese page, one that does not shows as it is. The templates keep
    their own catalogue (their environments are made before the patch)."""
    import gettext

    from onewindow.web import i18n
    from onewindow.web.templating import environment

    class Marked(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return f"«{message}»"

    for language in i18n.LANGUAGES:
        environment(language)
    monkeypatch.setattr(i18n, "translations", lambda language: Marked())


def _back_field(html: str) -> str:
    import html as markup

    return markup.unescape(re.search(r'name="back" value="([^"]*)"', html).group(1))


def test_switching_language_on_a_refusal_goes_back_to_a_page(client, pages, world):
    from tests.web.test_agency_pages import api, filed, post

    case = filed(client, world)
    page_url = f"/customs/declarations/{case['customs']}"
    api(client, world, CUSTOMS, "POST", f"{page_url.removeprefix('/customs')}/accept")
    pages.sign_in(client, CUSTOMS)
    refused = post(client, f"{page_url}/accept")  # no Referer: the action's address is all there is
    assert refused.status_code == 409 and _back_field(refused.text) == f"{page_url}/accept"
    token = pages.csrf(client)
    switched = client.post("/preferences", data={"language": "en", "back": _back_field(refused.text),
                                                 "csrf_token": token}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == page_url
    shown = client.get(switched.headers["location"])
    assert shown.status_code == 200 and '<html lang="en">' in shown.text
    from_page = client.post(f"{page_url}/accept", data={"csrf_token": token}, follow_redirects=False,
                            headers={"Referer": f"http://testserver{page_url}?done=accepted"})
    assert from_page.status_code == 409 and _back_field(from_page.text) == f"http://testserver{page_url}?done=accepted"
    switched = client.post("/preferences", data={"zone": "UTC", "back": _back_field(from_page.text),
                                                 "csrf_token": token}, follow_redirects=False)
    assert switched.headers["location"] == f"{page_url}?done=accepted"


@pytest.mark.parametrize(("back", "target"), [
    ("/enterprise/filings?status=draft", "/enterprise/filings?status=draft"),
    ("http://testserver/enterprise/filings?status=draft", "/enterprise/filings?status=draft"),
    ("/customs/declarations/0b3e2ad4-0000-4000-8000-000000000000/accept?x=1",
     "/customs/declarations/0b3e2ad4-0000-4000-8000-000000000000"),
    ("/terminal/tasks/0b3e2ad4-0000-4000-8000-000000000000/complete", "/terminal/tasks"),
    ("/enterprise/inspections/0b3e2ad4-0000-4000-8000-000000000000/appointment", "/"),
    ("/enterprise/filings/", "/enterprise/filings"),
    ("/api/v1/filings", "/"),  # the API is not a page
    ("/static/app.css", "/"),
    ("http://evil.example/status", "/"), ("//evil.example/status", "/"), ("javascript:alert(1)", "/"),
    ("/\\evil.example", "/"), ("", "/"),
])
def test_preferences_go_back_only_to_a_page_of_this_site_answering_get(client, pages, back, target):
    answer = client.post("/preferences", data={"language": "en", "back": back, "csrf_token": pages.csrf(client)},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == target
    assert client.get(target).status_code == 200


def test_a_refused_form_token_is_said_in_the_readers_language(client, pages, monkeypatch):
    marked_catalogue(monkeypatch)
    public = client.post("/login", data={"organisation": CUSTOMS, "user": "staff", "password": "x" * 10})
    assert public.status_code == 403
    assert "«the form has expired or did not come from this site; reload the page and retry»" in public.text
    pages.sign_in(client, CUSTOMS)
    signed_in = client.post("/logout", data={"csrf_token": "forged"})
    assert signed_in.status_code == 403 and "«the form has expired" in signed_in.text
