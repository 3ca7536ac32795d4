"""Webhook subscriptions: the API, who may see and manage what, URL and type rules."""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from onewindow.config import Settings
from onewindow.events.webhooks import EVENT_TYPES, UrlRefused, committed_before, matches, signing_secrets, vet_url

ENT, OTHER = "91210200MA0QK1P3AF", "91210211MA0XY7L2XK"
API = "/api/v1"
PUBLIC = "https://93.184.216.34/onewindow/hook"  # a public address: nothing is sent to it in these tests


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, embedded_scheduler=False, webhook_allowed_hosts=["127.0.0.1"])


def create(client, world, code=ENT, **body):
    return client.post(f"{API}/webhooks", json={"url": PUBLIC, **body}, headers=world.headers(code))


# --- subscriptions ------------------------------------------------------------------------------------------

def test_subscribing_answers_the_secret_once(client, world, clock):
    answer = create(client, world, types=["container.released", "inspection.*"])
    assert answer.status_code == 201, answer.text
    webhook = answer.json()
    assert webhook["url"] == PUBLIC and webhook["types"] == ["container.released", "inspection.*"]
    assert webhook["enabled"] is True and webhook["failure_streak"] == 0 and webhook["disabled_at"] is None
    assert datetime.fromisoformat(webhook["created_at"]) == clock.now()
    assert webhook["secret"].startswith("whsec_") and len(base64.b64decode(webhook["secret"][6:])) == 32
    shown = client.get(f"{API}/webhooks/{webhook['id']}", headers=world.headers(ENT)).json()
    assert "secret" not in shown and shown == {k: v for k, v in webhook.items() if k != "secret"}
    assert create(client, world).json()["secret"] != webhook["secret"]


def test_every_type_when_types_are_left_out(client, world):
    assert create(client, world).json()["types"] is None
    assert create(client, world, types=None).json()["types"] is None
    twice = create(client, world, types=["filing.created", " filing.created "])
    assert twice.json()["types"] == ["filing.created"]


def test_each_organisation_lists_only_its_own(client, world):
    mine = [create(client, world).json()["id"] for _ in range(2)]
    theirs = create(client, world, OTHER).json()["id"]
    customs = create(client, world, "0916").json()["id"]
    assert sorted(w["id"] for w in client.get(f"{API}/webhooks", headers=world.headers(ENT)).json()) == sorted(mine)
    assert [w["id"] for w in client.get(f"{API}/webhooks", headers=world.headers(OTHER)).json()] == [theirs]
    assert [w["id"] for w in client.get(f"{API}/webhooks", headers=world.headers("0916")).json()] == [customs]
    assert client.get(f"{API}/webhooks", headers=world.headers("0900")).json() == []


def test_another_organisation_s_webhook_is_404(client, world):
    webhook = create(client, world).json()["id"]
    event = str(uuid.uuid4())
    for code in (OTHER, "0916", "DCT"):
        headers = world.headers(code)
        assert client.get(f"{API}/webhooks/{webhook}", headers=headers).status_code == 404
        assert client.delete(f"{API}/webhooks/{webhook}", headers=headers).status_code == 404
        assert client.post(f"{API}/webhooks/{webhook}/enable", headers=headers).status_code == 404
        assert client.get(f"{API}/webhooks/{webhook}/deliveries", headers=headers).status_code == 404
        assert client.post(f"{API}/webhooks/{webhook}/deliveries/{event}/redeliver",
                           headers=headers).status_code == 404
    assert client.get(f"{API}/webhooks/{webhook}", headers=world.headers(ENT)).status_code == 200
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        answer = client.get(f"{API}/webhooks/{unknown}", headers=world.headers(ENT))
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_deleting_a_webhook(client, world):
    webhook = create(client, world).json()["id"]
    answer = client.delete(f"{API}/webhooks/{webhook}", headers=world.headers(ENT))
    assert answer.status_code == 204 and answer.content == b""
    assert client.get(f"{API}/webhooks/{webhook}", headers=world.headers(ENT)).status_code == 404
    assert client.delete(f"{API}/webhooks/{webhook}", headers=world.headers(ENT)).status_code == 404


def test_changing_a_webhook_s_url_and_types_keeps_the_rest(client, world):
    webhook = create(client, world, types=["container.released"]).json()
    url, headers = f"{API}/webhooks/{webhook['id']}", world.headers(ENT)
    moved = client.patch(url, json={"url": " https://93.184.216.35/hook "}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["url"] == "https://93.184.216.35/hook" and moved.json()["types"] == ["container.released"]
    widened = client.patch(url, json={"types": ["inspection.*", "container.released"]}, headers=headers).json()
    assert widened["types"] == ["inspection.*", "container.released"] and widened["url"].endswith(".35/hook")
    assert client.patch(url, json={"types": None}, headers=headers).json()["types"] is None  # every type
    kept = {k: v for k, v in webhook.items() if k not in ("secret", "url", "types")}
    shown = client.get(url, headers=headers).json()
    assert {k: shown[k] for k in kept} == kept


def test_a_bad_change_is_422_and_changes_nothing(client, world):
    webhook = create(client, world).json()
    url, headers = f"{API}/webhooks/{webhook['id']}", world.headers(ENT)
    refused = client.patch(url, json={"url": "http://10.1.2.3/hook", "types": ["nope.*"]}, headers=headers)
    assert refused.status_code == 422
    assert [d["loc"] for d in refused.json()["error"]["details"]] == [["url"], ["types", 0]]
    assert client.patch(url, json={"url": None}, headers=headers).json()["error"]["details"][0]["loc"] == ["url"]
    for body in ({"secret": "mine"}, {"types": "filing.created"}, {"url": ""}):
        assert client.patch(url, json=body, headers=headers).status_code == 422, body
    assert client.get(url, headers=headers).json()["url"] == PUBLIC
    for code in (OTHER, "0916"):
        assert client.patch(url, json={"types": None}, headers=world.headers(code)).status_code == 404


def test_rotating_the_secret_shows_the_new_one_once_and_keeps_the_old_one_for_the_overlap(client, world, clock, run):
    from onewindow.models import WebhookSubscription

    webhook = create(client, world).json()
    url, headers = f"{API}/webhooks/{webhook['id']}/rotate-secret", world.headers(ENT)
    rotated = client.post(url, headers=headers)
    assert rotated.status_code == 200, rotated.text
    first = rotated.json()
    assert first["secret"].startswith("whsec_") and first["secret"] != webhook["secret"]
    assert datetime.fromisoformat(first["previous_secret_until"]) == clock.now() + timedelta(hours=24)
    assert "secret" not in client.get(f"{API}/webhooks/{webhook['id']}", headers=headers).json()
    row = run(lambda ctx: ctx.session.get(WebhookSubscription, uuid.UUID(webhook["id"])))
    assert (row.secret, row.previous_secret) == (first["secret"], webhook["secret"])
    second = client.post(url, json={"overlap_hours": 0}, headers=headers).json()  # no overlap at all
    assert second["previous_secret_until"] is None
    row = run(lambda ctx: ctx.session.get(WebhookSubscription, uuid.UUID(webhook["id"])))
    assert (row.secret, row.previous_secret) == (second["secret"], None)
    for bad in ({"overlap_hours": -1}, {"overlap_hours": 721}, {"secret": "mine"}):
        assert client.post(url, json=bad, headers=headers).status_code == 422, bad
    for code in (OTHER, "0916"):
        assert client.post(url, headers=world.headers(code)).status_code == 404
    viewer = world.token_with_role(ENT, "auditor", "viewer")
    assert client.post(url, headers=viewer).status_code == 403


def test_the_signing_secrets_during_and_after_the_overlap():
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert signing_secrets("new", "old", now + timedelta(seconds=1), now) == ("new", "old")
    assert signing_secrets("new", "old", now, now) == ("new",)
    assert signing_secrets("new", None, None, now) == ("new",)


def test_enabling_an_enabled_webhook_changes_nothing(client, world):
    webhook = create(client, world).json()
    answer = client.post(f"{API}/webhooks/{webhook['id']}/enable", headers=world.headers(ENT))
    assert answer.status_code == 200 and answer.json()["enabled"] is True


@pytest.mark.parametrize("code", [ENT, "0916", "210600", "DCT", "PORTOFFICE"])
def test_every_kind_of_organisation_may_subscribe(client, world, code):
    assert create(client, world, code).status_code == 201


def test_without_a_token_401(client):
    some = str(uuid.uuid4())
    for method, path in (("post", "/webhooks"), ("get", "/webhooks"), ("get", f"/webhooks/{some}"),
                         ("delete", f"/webhooks/{some}"), ("patch", f"/webhooks/{some}"),
                         ("post", f"/webhooks/{some}/enable"),
                         ("get", f"/webhooks/{some}/deliveries"),
                         ("post", f"/webhooks/{some}/deliveries/{some}/redeliver")):
        answer = client.request(method, f"{API}{path}", json={"url": PUBLIC} if method in ("post", "patch") else None)
        assert answer.status_code == 401, (method, path)
        assert answer.headers["www-authenticate"] == "Bearer"
    bad = client.get(f"{API}/webhooks", headers={"Authorization": "Bearer ow_nope"})
    assert bad.status_code == 401


def test_a_viewer_may_not_manage_webhooks(client, world):
    webhook = create(client, world).json()["id"]
    viewer = world.token_with_role(ENT, "auditor", "viewer")
    assert client.post(f"{API}/webhooks", json={"url": PUBLIC}, headers=viewer).status_code == 403
    assert client.get(f"{API}/webhooks", headers=viewer).status_code == 403
    answer = client.get(f"{API}/webhooks/{webhook}", headers=viewer)
    assert answer.status_code == 403 and "webhook:manage" in answer.json()["error"]["message"]
    assert client.delete(f"{API}/webhooks/{webhook}", headers=viewer).status_code == 403
    assert client.patch(f"{API}/webhooks/{webhook}", json={"types": None}, headers=viewer).status_code == 403
    assert client.get(f"{API}/webhooks/{webhook}/deliveries", headers=viewer).status_code == 403
    other_viewer = world.token_with_role(OTHER, "auditor", "viewer")
    assert client.get(f"{API}/webhooks/{webhook}", headers=other_viewer).status_code == 404  # 404 before 403


# --- what a subscription may name ---------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "why"), [
    ("ftp://93.184.216.34/x", "must be an http or https URL"),
    ("file:///etc/passwd", "must be an http or https URL"),
    ("93.184.216.34/hook", "must be an http or https URL"),
    ("http:///hook", "must name a host"),
    ("http://93.184.216.34:99999/", "is not a valid URL (Port out of range 0-65535)"),
    ("http://10.1.2.3/hook", "10.1.2.3 is a private address; webhooks may only reach public addresses"),
    ("http://192.168.0.10:8080/", "192.168.0.10 is a private address; webhooks may only reach public addresses"),
    ("http://172.16.5.4/", "172.16.5.4 is a private address; webhooks may only reach public addresses"),
    ("http://127.0.0.2/", "127.0.0.2 is a loopback address; webhooks may only reach public addresses"),
    ("http://169.254.169.254/latest/meta-data/",
     "169.254.169.254 is a link-local address; webhooks may only reach public addresses"),
    ("http://0.0.0.0:8000/", "0.0.0.0 is a unspecified address; webhooks may only reach public addresses"),
    ("http://[::1]:8000/", "::1 is a loopback address; webhooks may only reach public addresses"),
    ("http://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1 is a private address; webhooks may only reach public addresses"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address; webhooks may only reach public addresses"),
    ("http://100.64.0.1/", "100.64.0.1 is a non-public address; webhooks may only reach public addresses"),
])
def test_urls_the_platform_will_not_call_are_422(client, world, url, why):
    answer = create(client, world, url=url)
    assert answer.status_code == 422, answer.text
    [detail] = answer.json()["error"]["details"]
    assert detail["loc"] == ["url"] and detail["msg"].startswith(why), detail["msg"]


def test_the_allowed_hosts_open_internal_addresses(client, world):
    local = create(client, world, url="http://127.0.0.1:9/hook")
    assert local.status_code == 201, local.text  # 127.0.0.1 is allowed in these tests
    assert create(client, world, url="http://127.0.0.2:9/hook").status_code == 422


def test_allowed_hosts_are_names_addresses_or_networks():
    settings = Settings(webhook_allowed_hosts=["10.0.0.0/8", "hooks.internal", "fd00::1"])

    def resolver(answers):
        return lambda host, port: answers[host]

    assert vet_url("http://10.9.8.7/x", settings) == ["10.9.8.7"]
    assert vet_url("http://[fd00::1]/x", settings) == ["fd00::1"]
    names = resolver({"hooks.internal": ["192.168.1.1"], "mixed.example": ["93.184.216.34", "10.1.1.1"],
                      "sneaky.example": ["93.184.216.34", "192.168.1.1"]})
    assert vet_url("http://hooks.internal:8080/x", settings, names) == ["192.168.1.1"]
    assert vet_url("http://mixed.example/x", settings, names) == ["93.184.216.34", "10.1.1.1"]
    with pytest.raises(UrlRefused, match="sneaky.example resolves to 192.168.1.1, which is a private address"):
        vet_url("http://sneaky.example/x", settings, names)  # every address must be allowed

    def unknown(host, port):
        raise OSError("no such host")

    with pytest.raises(UrlRefused, match="localhost resolves to .*, which is a loopback address"):
        vet_url("http://localhost:8000/hook", Settings())
    with pytest.raises(UrlRefused, match="the host nowhere.example does not resolve"):
        vet_url("https://nowhere.example/x", Settings(), unknown)


def test_the_allowed_hosts_setting_reads_a_list_or_commas(monkeypatch):
    monkeypatch.setenv("ONEWINDOW_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1, 10.0.0.0/8 ,hooks.internal")
    assert Settings().webhook_allowed_hosts == ["127.0.0.1", "10.0.0.0/8", "hooks.internal"]
    monkeypatch.setenv("ONEWINDOW_WEBHOOK_ALLOWED_HOSTS", '["127.0.0.1"]')
    assert Settings().webhook_allowed_hosts == ["127.0.0.1"]
    monkeypatch.delenv("ONEWINDOW_WEBHOOK_ALLOWED_HOSTS")
    assert Settings().webhook_allowed_hosts == []


def test_types_must_be_known_types_or_groups(client, world):
    answer = create(client, world, types=["container.released", "container.exploded", "nope.*", "*"])
    assert answer.status_code == 422
    details = answer.json()["error"]["details"]
    assert [d["loc"] for d in details] == [["types", 1], ["types", 2], ["types", 3]]
    assert details[0]["msg"].startswith("'container.exploded' is not an event type; name a type such as")
    empty = create(client, world, types=[])
    assert empty.json()["error"]["details"][0]["loc"] == ["types"]
    both = create(client, world, url="gopher://x", types=["x"])
    assert [d["loc"] for d in both.json()["error"]["details"]] == [["url"], ["types", 0]]


@pytest.mark.parametrize("body", [{}, {"url": PUBLIC, "secret": "mine"}, {"url": PUBLIC, "types": "filing.created"},
                                  {"url": ""}, {"url": PUBLIC + "x" * 2000}])
def test_a_malformed_body_is_422(client, world, body):
    answer = client.post(f"{API}/webhooks", json=body, headers=world.headers(ENT))
    assert answer.status_code == 422, answer.text


def test_every_event_type_the_api_guide_lists_may_be_subscribed_to(client, world):
    guide = (Path(__file__).parents[2] / "docs" / "api-guide.md").read_text()
    tables = [part.split("\n\n")[0] for part in guide.split("| action | event type |")[1:]]
    listed = {found for table in tables for found in re.findall(r"^\|[^|]*\| `([a-z_]+\.[a-z_]+)`", table, re.M)}
    assert listed == EVENT_TYPES
    answer = create(client, world, types=sorted(listed))
    assert answer.status_code == 201, answer.text
    assert answer.json()["types"] == sorted(listed)


def test_an_event_of_a_type_the_platform_does_not_know_is_not_written(db, world, clock, settings):
    from onewindow.context import Context
    from onewindow.db import make_session_factory
    from onewindow.events.service import record_event
    from onewindow.models import Event

    with make_session_factory(db)() as session:
        ctx = Context(session=session, clock=clock, settings=settings)
        with pytest.raises(ValueError, match="'inspection.joint' is not an event type"):
            record_event(ctx, "inspection.joint", subject_type="inspection", subject_id=uuid.uuid4(),
                         recipients=[], data={})
        assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "inspection.joint")) == 0


def test_matching_types():
    assert matches(None, "container.released")
    assert matches(["container.released"], "container.released")
    assert not matches(["container.released"], "container.release_revoked")
    assert matches(["inspection.*"], "inspection.matched") and not matches(["inspection.*"], "filing.created")
    assert {t.split(".")[0] for t in EVENT_TYPES} == {"filing", "declaration", "inspection", "container"}


def test_committed_before_reads_a_postgresql_snapshot():
    snapshot = "100:105:100,103"
    assert committed_before(99, snapshot)
    assert not committed_before(100, snapshot) and not committed_before(103, snapshot)  # still running then
    assert committed_before(101, snapshot) and committed_before(104, snapshot)
    assert not committed_before(105, snapshot) and not committed_before(200, snapshot)  # began after


# --- deliveries listing -------------------------------------------------------------------------------------

def test_deliveries_list_and_filter(client, world, db, clock, settings):
    from onewindow.db import make_session_factory
    from onewindow.events.relay import run_relay_once
    from onewindow.samples import sample_entry

    webhook = create(client, world, url="http://127.0.0.1:9/hook").json()  # the discard port: nobody listens
    filing = client.post(f"{API}/filings", json=sample_entry(seed=3), headers=world.headers(ENT)).json()
    client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT))
    factory = make_session_factory(db)
    url = f"{API}/webhooks/{webhook['id']}/deliveries"
    deadline = time.monotonic() + 60  # on PostgreSQL the relay waits out transactions elsewhere on the server
    while True:
        run_relay_once(factory, clock, settings)
        page = client.get(url, headers=world.headers(ENT)).json()
        if page["total"] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert page["total"] == 3
    newest, *_, oldest = page["items"]
    assert oldest["event_type"] == "filing.created" and newest["event_type"] == "declaration.submitted"
    assert oldest["filing_id"] == filing["id"] and oldest["status"] == "pending"
    assert oldest["attempts"][0]["status_code"] is None and oldest["attempts"][0]["error"]
    assert newest["attempts"] == []  # behind the first of its consignment
    assert client.get(url, params={"status": "pending", "limit": 1}, headers=world.headers(ENT)).json()["total"] == 3
    assert len(client.get(url, params={"limit": 1}, headers=world.headers(ENT)).json()["items"]) == 1
    assert client.get(url, params={"status": "delivered"}, headers=world.headers(ENT)).json() == {"items": [],
                                                                                                  "total": 0}
    assert client.get(url, params={"status": "lost"}, headers=world.headers(ENT)).status_code == 422
    disabled_answer = client.post(f"{API}/webhooks/{webhook['id']}/deliveries/{uuid.uuid4()}/redeliver",
                                  headers=world.headers(ENT))
    assert disabled_answer.status_code == 404
