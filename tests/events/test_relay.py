"""The webhook relay against real HTTP receivers on 127.0.0.1: signed, retried, in order per consignment, once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime

import pytest
from sqlalchemy import func, select, text, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from onewindow.config import Settings
from onewindow.context import Context
from onewindow.db import make_session_factory
import onewindow.events.relay as relay_module
from onewindow.events.relay import (
    BACKLOG_BATCH_FACTOR, LEASE, Relay, claim_due, fan_out, next_batch_size, renew, run_relay_once,
)
from onewindow.events.service import record_event
from onewindow.models import Event, EventRecipient, Organisation, WebhookDelivery
from onewindow.parties.service import get_organisation_by_code
from onewindow.samples import sample_entry

ENT, OTHER = "91210200MA0QK1P3AF", "91210211MA0XY7L2XK"
API = "/api/v1"


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, embedded_scheduler=False, webhook_allowed_hosts=["127.0.0.1"],
                    webhook_timeout_seconds=5)


# --- helpers ------------------------------------------------------------------------------------------------

@pytest.fixture
def relay(db, clock, settings):
    factory = make_session_factory(db)

    def once(**overrides):
        return run_relay_once(factory, clock, settings.model_copy(update=overrides) if overrides else settings)

    return once


def until(relay, condition, timeout: float = 30.0, **overrides) -> None:
    """Run the relay until ``condition()`` holds (events of other databases' running transactions may hold
    PostgreSQL's horizon back for a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        relay(**overrides)
        if condition():
            return
        assert time.monotonic() < deadline, "the relay did not get there in time"
        time.sleep(0.02)


def subscribe(client, world, code, url, types=None) -> dict:
    body = {"url": url} if types is None else {"url": url, "types": types}
    answer = client.post(f"{API}/webhooks", json=body, headers=world.headers(code))
    assert answer.status_code == 201, answer.text
    return answer.json()


def filed(client, world, seed, code=ENT) -> dict:
    filing = client.post(f"{API}/filings", json=sample_entry(seed=seed, consignee_uscc=code),
                         headers=world.headers(code))
    assert filing.status_code == 201, filing.text
    submitted = client.post(f"{API}/filings/{filing.json()['id']}/submit", headers=world.headers(code))
    assert submitted.status_code == 200, submitted.text
    return filing.json()


def org_ids(run, *codes) -> list[uuid.UUID]:
    return run(lambda ctx: [get_organisation_by_code(ctx, c).id for c in codes])


def emit(run, recipients: list[uuid.UUID], filing_id: uuid.UUID | None, n: int = 1,
         type_: str = "filing.updated") -> list[str]:
    """``n`` events about ``filing_id`` for ``recipients``, in one transaction; their ids."""

    def work(ctx):
        return [str(record_event(ctx, type_, subject_type="filing", subject_id=filing_id or uuid.uuid4(),
                                 recipients=recipients, data={"n": i}, filing_id=filing_id).id) for i in range(n)]

    return run(work)


def deliveries(client, world, code, webhook_id, status=None) -> list[dict]:
    answer = client.get(f"{API}/webhooks/{webhook_id}/deliveries", params={"status": status} if status else {},
                        headers=world.headers(code))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def count_deliveries(run, webhook_id) -> int:
    return run(lambda ctx: ctx.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.subscription_id == uuid.UUID(webhook_id))))


def visible_events(run, code) -> list[str]:
    """The ids of every event ``code`` may see, in feed order."""
    return run(lambda ctx: [str(i) for i in ctx.session.scalars(
        select(Event.id).join(EventRecipient, EventRecipient.event_seq == Event.seq)
        .join(Organisation, Organisation.id == EventRecipient.organisation_id)
        .where(Organisation.code == code).order_by(EventRecipient.tx, EventRecipient.event_seq))])


# --- signed deliveries --------------------------------------------------------------------------------------

def test_after_a_rotation_requests_verify_with_the_new_and_the_old_secret_until_the_overlap_ends(
        client, world, receiver, relay, clock):
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url)
    url, headers = f"{API}/webhooks/{webhook['id']}/rotate-secret", world.headers(ENT)
    rotated = client.post(url, json={"overlap_hours": 1}, headers=headers).json()
    filed(client, world, 11)
    until(relay, lambda: len(hook.requests) == 3)
    for request in hook.requests:  # both receivers' secrets verify during the overlap
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        Webhook(rotated["secret"]).verify(request.body, request.headers)
        Webhook(webhook["secret"]).verify(request.body, request.headers)
    clock.advance(hours=1, seconds=1)
    filed(client, world, 12)
    until(relay, lambda: len(hook.requests) == 6)
    for request in hook.requests[3:]:  # the overlap is over: only the new secret signs
        Webhook(rotated["secret"]).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(webhook["secret"]).verify(request.body, request.headers)


def test_deliveries_are_signed_per_standard_webhooks(client, world, receiver, relay, run):
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url)
    filing = filed(client, world, 1)
    until(relay, lambda: len(hook.requests) == 3)
    assert [r.json["type"] for r in hook.requests] == ["filing.created", "declaration.submitted",
                                                       "declaration.submitted"]
    for request in hook.requests:
        payload = Webhook(webhook["secret"]).verify(request.body, request.headers)
        assert set(payload) == {"id", "type", "occurred_at", "subject", "filing_id", "data"}  # no confidential
        assert request.headers["webhook-id"] == payload["id"]
        assert payload["filing_id"] == filing["id"] and set(payload["subject"]) == {"type", "id"}
        assert datetime.fromisoformat(payload["occurred_at"])
        assert request.headers["content-type"] == "application/json" and request.path == "/hook"
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60  # the real time, for receivers
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)  # another secret fails
    assert hook.ids == visible_events(run, ENT)
    delivered = deliveries(client, world, ENT, webhook["id"])
    assert [d["status"] for d in delivered] == ["delivered"] * 3
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status_code"] == 200 for d in delivered)


def test_agencies_get_the_confidential_fields_enterprises_do_not(client, world, receiver, relay):
    customs, enterprise = receiver(), receiver()
    subscribe(client, world, "0916", customs.url, ["inspection.decided"])
    subscribe(client, world, ENT, enterprise.url)
    filing = filed(client, world, 30)
    ids = {d["agency"]: d["id"] for d in filing["declarations"]}
    client.post(f"{API}/declarations/{ids['customs']}/accept", headers=world.headers("0916"))
    number = sample_entry(seed=30)["containers"][0]["number"]
    answer = client.post(f"{API}/declarations/{ids['customs']}/decision",
                         json={"inspect": True, "containers": [number], "kind": "physical", "reason": "R-17"},
                         headers=world.headers("0916"))
    assert answer.status_code == 201, answer.text
    until(relay, lambda: len(customs.requests) == 1 and len(enterprise.requests) >= 4)
    assert customs.requests[0].json["confidential"] == {"reason": "R-17"}
    assert all("confidential" not in r.json and b"R-17" not in r.body for r in enterprise.requests)


def test_a_subscription_only_gets_the_types_it_names(client, world, receiver, relay, run):
    declarations, created = receiver(), receiver()
    subscribe(client, world, ENT, declarations.url, ["declaration.*"])
    second = subscribe(client, world, ENT, created.url, ["filing.created"])
    filed(client, world, 2)
    until(relay, lambda: len(declarations.requests) == 2 and len(created.requests) == 1)
    assert {r.json["type"] for r in declarations.requests} == {"declaration.submitted"}
    assert created.requests[0].json["type"] == "filing.created"
    until(relay, lambda: count_deliveries(run, second["id"]) == 1)


def test_events_before_the_subscription_are_not_sent(client, world, receiver, relay, run):
    filed(client, world, 3)
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url)
    filed(client, world, 4)
    until(relay, lambda: len(hook.requests) == 3)
    relay()
    assert len(hook.requests) == 3 == count_deliveries(run, webhook["id"])
    assert hook.ids == visible_events(run, ENT)[3:]


# --- retries and attempts -----------------------------------------------------------------------------------

def test_a_failing_receiver_is_retried_with_backoff_until_it_succeeds(client, world, receiver, relay, clock,
                                                                      settings):
    hook = receiver(lambda i, _payload: 500 if i == 0 else 200)
    webhook = subscribe(client, world, ENT, hook.url, ["filing.created"])
    filed(client, world, 5)
    until(relay, lambda: len(hook.requests) == 1)
    [pending] = deliveries(client, world, ENT, webhook["id"])
    assert pending["status"] == "pending" and pending["attempt_count"] == 1
    [failed] = pending["attempts"]
    assert failed["status_code"] == 500 and failed["error"] == "HTTP 500: receiver is down try later"
    assert failed["latency_ms"] >= 0 and datetime.fromisoformat(failed["at"]) == clock.now()
    retry_at = datetime.fromisoformat(pending["next_attempt_at"])
    base = settings.webhook_retry_base_seconds
    assert base / 2 <= (retry_at - clock.now()).total_seconds() <= base  # half the delay is jitter
    relay()
    assert len(hook.requests) == 1  # not due yet
    clock.advance(seconds=base)
    relay()
    assert len(hook.requests) == 2 and hook.ids[0] == hook.ids[1]  # the same webhook-id: receivers deduplicate
    [done] = deliveries(client, world, ENT, webhook["id"])
    assert done["status"] == "delivered" and done["next_attempt_at"] is None
    assert [(a["number"], a["status_code"]) for a in done["attempts"]] == [(1, 500), (2, 200)]
    assert done["attempts"][1]["error"] is None and datetime.fromisoformat(done["delivered_at"]) == clock.now()
    assert Webhook(webhook["secret"]).verify(hook.requests[1].body, hook.requests[1].headers)["type"] == \
        "filing.created"


def test_every_kind_of_failure_is_recorded(client, world, receiver, relay, run):
    slow = receiver(lambda _i, _p: time.sleep(1.5) or 200)
    closed = receiver()
    closed.close()  # nothing listens on its port any more
    webhooks = {name: subscribe(client, world, ENT, url, ["filing.created"])
                for name, url in (("slow", slow.url), ("closed", closed.url))}
    filed(client, world, 6)
    until(relay, lambda: all(count_deliveries(run, w["id"]) == 1 for w in webhooks.values()),
          webhook_timeout_seconds=0.5)
    timed_out = deliveries(client, world, ENT, webhooks["slow"]["id"])[0]["attempts"][0]
    assert timed_out["status_code"] is None and timed_out["error"] == "no answer within 0.5 s"
    assert 400 <= timed_out["latency_ms"] < 5000
    refused = deliveries(client, world, ENT, webhooks["closed"]["id"])[0]["attempts"][0]
    assert refused["status_code"] is None and refused["error"].startswith("ConnectError")


def test_an_internal_address_is_refused_when_sending_too(client, world, receiver, relay, clock):
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url, ["filing.created"])
    filed(client, world, 7)
    until(relay, lambda: any(d["attempts"] for d in deliveries(client, world, ENT, webhook["id"])),
          webhook_allowed_hosts=[])  # the operator withdrew the allowance
    [attempt] = deliveries(client, world, ENT, webhook["id"])[0]["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"] == "refused: 127.0.0.1 is a loopback address; webhooks may only reach public addresses"
    assert hook.requests == []


def test_a_delivery_is_given_up_after_the_give_up_age(client, world, receiver, relay, clock, run):
    hook = receiver(lambda _i, payload: 503 if payload["data"].get("n") == 0 else 200)
    webhook = subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    filing = uuid.uuid4()
    first, second = emit(run, [ent], filing, 2)
    until(relay, lambda: len(hook.requests) == 1, webhook_give_up_seconds=60)
    for _ in range(20):
        clock.advance(seconds=61)
        relay(webhook_give_up_seconds=60)
    assert hook.ids.count(first) == 2  # the first attempt and one last at the give-up age
    assert hook.ids[-1] == second  # the next event of the consignment went once the first was given up
    by_event = {d["event_id"]: d for d in deliveries(client, world, ENT, webhook["id"])}
    assert by_event[first]["status"] == "failed" and by_event[first]["next_attempt_at"] is None
    assert [a["status_code"] for a in by_event[first]["attempts"]] == [503, 503]
    assert by_event[second]["status"] == "delivered"


# --- order per consignment ----------------------------------------------------------------------------------

def test_a_consignment_s_events_arrive_in_order_while_others_go_on(client, world, receiver, relay, clock, run):
    failed_once = set()

    def respond(_index, payload):
        if payload["data"]["n"] == 0 and payload["filing_id"] == str(f) and not failed_once:
            failed_once.add(payload["id"])
            return 500
        return 200

    hook = receiver(respond)
    webhook = subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    f, g = uuid.uuid4(), uuid.uuid4()
    f_events = emit(run, [ent], f, 3)
    g_events = emit(run, [ent], g, 2)
    until(relay, lambda: count_deliveries(run, webhook["id"]) == 5 and len(hook.requests) >= 3)
    relay()

    def arrived(filing):
        return [r.headers["webhook-id"] for r in hook.requests if r.json["filing_id"] == str(filing)]

    assert arrived(f) == [f_events[0]] and arrived(g) == g_events  # F waits behind its failed first event; G goes on
    waiting = {d["event_id"]: d for d in deliveries(client, world, ENT, webhook["id"], "pending")}
    assert set(waiting) == set(f_events) and waiting[f_events[1]]["attempts"] == []
    clock.advance(seconds=3600)
    relay()
    assert arrived(f) == [f_events[0]] + f_events and len(hook.requests) == 6
    assert deliveries(client, world, ENT, webhook["id"], "pending") == []


# --- leases ------------------------------------------------------------------------------------------------

def claimed_then_dead(db, clock, settings, run, webhook_id, fanned, claimed) -> list:
    """``fanned`` deliveries made, ``claimed`` of them claimed by a relay that dies before sending them."""
    factory = make_session_factory(db)
    until(lambda: fan_out(factory, clock, settings), lambda: count_deliveries(run, webhook_id) == fanned)
    out = claim_due(factory, clock, settings)
    assert len(out) == claimed
    return out


def test_a_dead_relay_s_claims_are_sent_again_once_their_lease_runs_out(client, world, receiver, relay, db, clock,
                                                                          settings, run):
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    written = emit(run, [ent], uuid.uuid4(), 2) + emit(run, [ent], None, 1)
    claimed_then_dead(db, clock, settings, run, webhook["id"], 3, 2)  # the consignment's second event waits
    relay()
    assert hook.requests == []  # leased (and the consignment's next event waits for its first)
    clock.advance(seconds=LEASE.total_seconds())
    relay()
    assert sorted(hook.ids) == sorted(written)
    assert hook.ids.index(written[0]) < hook.ids.index(written[1])
    assert all(len(d["attempts"]) == 1 for d in deliveries(client, world, ENT, webhook["id"], "delivered"))


def test_a_lease_renewed_while_sending_keeps_other_relays_off(client, world, receiver, relay, db, clock, settings,
                                                              run):
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    emit(run, [ent], None, 1)
    [claimed] = claimed_then_dead(db, clock, settings, run, webhook["id"], 1, 1)
    clock.advance(seconds=LEASE.total_seconds() - 1)
    renew(make_session_factory(db), clock, [claimed.claim])  # the sending relay is alive and renews
    clock.advance(seconds=2)  # past the first lease, within the renewed one
    relay()
    assert hook.requests == []
    clock.advance(seconds=LEASE.total_seconds())
    relay()
    assert hook.ids == [claimed.message_id]


def test_claims_take_the_longest_due_first_then_feed_order(client, world, receiver, db, clock, settings, run):
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    first, second, third = (emit(run, [ent], None, 1)[0] for _ in range(3))
    factory = make_session_factory(db)
    until(lambda: fan_out(factory, clock, settings), lambda: count_deliveries(run, webhook["id"]) == 3)
    earlier = clock.now().replace(microsecond=0) - LEASE  # a retry due before the fresh deliveries
    run(lambda ctx: ctx.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.event_seq == select(Event.seq).where(
            Event.id == uuid.UUID(third)).scalar_subquery()).values(next_attempt_at=earlier)))
    assert [o.message_id for o in claim_due(factory, clock, settings)] == [third, first, second]


def test_claims_grow_while_they_come_back_full_and_fall_back_after():
    base = 250
    sizes = [base]
    for claimed in [250, 500, 1000, 1000, 37]:
        sizes.append(next_batch_size(sizes[-1], claimed, base))
    assert sizes == [250, 500, 1000, 1000, 1000, 250]
    assert BACKLOG_BATCH_FACTOR * base == 1000
    assert next_batch_size(1, 0, 1) == 1


def test_a_backlog_is_claimed_in_growing_batches_and_delivered_once(client, world, receiver, relay, run, monkeypatch):
    hook = receiver()
    subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    written = emit(run, [ent], None, 30)
    limits, claim_in = [], relay_module.claim_in

    def spy(session, clock, settings, *, limit=None):
        limits.append(limit)
        return claim_in(session, clock, settings, limit=limit)

    monkeypatch.setattr(relay_module, "claim_in", spy)
    until(relay, lambda: len(hook.requests) == 30, webhook_batch_size=2)
    assert sorted(hook.ids) == sorted(written)  # each once
    assert limits[:4] == [2, 4, 8, 8]


def emit_until_delivered(run, org, hook) -> list[str]:
    """Commit one event for ``org`` and wait for the relay (woken by the commit) to deliver it to ``hook``;
    on PostgreSQL the horizon may hold the first back, so commit another after 5 s, up to six times. The
    events written: what ``hook`` received is among them (when more than one was written, in any order)."""
    written = []
    for _ in range(6):
        written += emit(run, [org], None, 1)
        deadline = time.monotonic() + 5
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        if hook.requests:
            break
    return written


def test_an_idle_relay_is_woken_by_a_commit_not_a_poll(client, world, receiver, db, clock, settings, run, monkeypatch):
    hook = receiver()
    subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    monkeypatch.setattr(relay_module, "QUICK_POLL", 3600.0)  # it never looks again on its own
    relay = Relay(make_session_factory(db), clock, settings.model_copy(update={"webhook_relay_interval_seconds": 3600}))
    relay.start()
    try:
        time.sleep(0.2)  # its first look found nothing: from now on it only looks when woken
        written = emit_until_delivered(run, ent, hook)
    finally:
        relay.stop()
    # delivered without a poll; when the horizon held the first back, a later commit may come first: events
    # without a filing go out side by side
    assert hook.ids and set(hook.ids) <= set(written)


def test_without_subscriptions_commits_cost_no_look_until_one_is_made(client, world, receiver, db, clock, settings,
                                                                      run, monkeypatch):
    looked: list[int] = []
    original = relay_module.fan_out_page

    def counting(session, clock_, after):
        looked.append(1)
        return original(session, clock_, after)

    monkeypatch.setattr(relay_module, "fan_out_page", counting)
    monkeypatch.setattr(relay_module, "QUICK_POLL", 3600.0)
    relay = Relay(make_session_factory(db), clock, settings.model_copy(update={"webhook_relay_interval_seconds": 3600}))
    relay.start()
    try:
        time.sleep(0.2)  # its first look: no subscription anywhere
        [ent] = org_ids(run, ENT)
        for _ in range(5):
            emit(run, [ent], None, 1)  # each commit wakes the relay
        time.sleep(0.3)
        assert looked == []  # no subscription: the commits cost no fan-out at all
        hook = receiver()
        subscribe(client, world, ENT, hook.url)  # made in this process: the relay looks again at once
        written = emit_until_delivered(run, ent, hook)
    finally:
        relay.stop()
    assert looked and hook.ids and set(hook.ids) <= set(written)


def test_while_nothing_is_subscribed_a_commit_costs_the_relay_no_database_round_trip(
        client, world, receiver, db, clock, settings, run, monkeypatch):
    hops: list[str] = []
    transactions: list[int] = []
    original_db, original_bookkeeping = relay_module.Dispatcher._db, relay_module.bookkeeping

    async def counting_db(self, fn, *args):
        hops.append(fn.__name__)
        return await original_db(self, fn, *args)

    def counting_bookkeeping(factory):
        transactions.append(1)
        return original_bookkeeping(factory)

    monkeypatch.setattr(relay_module.Dispatcher, "_db", counting_db)
    monkeypatch.setattr(relay_module, "bookkeeping", counting_bookkeeping)
    monkeypatch.setattr(relay_module, "QUICK_POLL", 3600.0)
    relay = Relay(make_session_factory(db), clock, settings.model_copy(update={"webhook_relay_interval_seconds": 3600}))
    relay.start()
    try:
        time.sleep(0.2)  # its first look asked the database once: no subscription anywhere
        assert hops == ["_look"] and transactions == [1]
        [ent] = org_ids(run, ENT)
        early = emit(run, [ent], None, 3)
        for _ in range(5):
            emit(run, [ent], None, 1)
        time.sleep(0.3)
        assert hops == ["_look"] and transactions == [1]  # the commits cost neither a thread hop nor a transaction
        hook = receiver()
        subscribe(client, world, ENT, hook.url)
        written = emit_until_delivered(run, ent, hook)
    finally:
        relay.stop()
    assert len(hops) > 1 and hook.ids and set(hook.ids) <= set(written)
    assert not set(early) & set(hook.ids)  # events before the subscription are not sent, as ever


def test_a_commit_during_a_look_that_found_work_makes_the_next_look_fan_out(db, clock, settings):
    looks: list[bool] = []

    async def scenario() -> None:
        wake, stopping, loop = asyncio.Event(), threading.Event(), asyncio.get_running_loop()

        async def commit() -> None:
            wake.set()  # as Relay.poke does when events are committed

        def look(fresh: bool, _counts) -> list:
            looks.append(fresh)
            if len(looks) == 1:
                asyncio.run_coroutine_threadsafe(commit(), loop).result()
                return ["a batch"]
            if len(looks) == 3:
                stopping.set()
            return []

        async with relay_module.Dispatcher(make_session_factory(db), clock, settings) as dispatcher:
            dispatcher._look = look
            dispatcher._start = lambda _batch, _counts: asyncio.create_task(asyncio.sleep(0))
            await dispatcher.run(wake, stopping)

    asyncio.run(scenario())
    assert looks[:2] == [True, True]


# --- several relays, several organisations ------------------------------------------------------------------

def test_two_relays_deliver_every_event_to_every_subscriber_once(client, world, receiver, db, clock, settings, run):
    codes = [ENT, OTHER, "0916"]
    hooks = {code: receiver() for code in codes}
    for code in codes:
        subscribe(client, world, code, hooks[code].url)
    orgs = dict(zip(codes, org_ids(run, *codes), strict=True))
    filings = [uuid.uuid4() for _ in range(8)]
    factory = make_session_factory(db)
    stop, errors = threading.Event(), []

    def writer():  # events keep coming while the relays run, some from transactions that take a while
        try:
            for i in range(24):
                filing = filings[i % len(filings)]
                recipients = [orgs[c] for c in codes if (i + codes.index(c)) % 3 != 0]

                def work(ctx, filing=filing, recipients=recipients, i=i):
                    for n in range(3):
                        record_event(ctx, "filing.updated", subject_type="filing", subject_id=filing,
                                     recipients=recipients, data={"n": n, "i": i}, filing_id=filing)
                        ctx.session.flush()
                    time.sleep(0.01 * (i % 3))

                run(work)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def relay_loop():
        try:
            while not stop.is_set():
                run_relay_once(factory, clock, settings)
                time.sleep(0.01)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=relay_loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        threads[0].join()
        expected = {code: visible_events(run, code) for code in codes}
        deadline = time.monotonic() + 60
        while (any(len(hooks[c].requests) < len(expected[c]) for c in codes) and time.monotonic() < deadline
               and not errors):
            time.sleep(0.05)
        time.sleep(0.2)  # a duplicate would have time to arrive
    finally:
        stop.set()
        for t in threads[1:]:
            t.join()
    assert not errors, errors
    total = 0
    for code in codes:
        got = hooks[code].ids
        assert Counter(got).most_common(1)[0][1] == 1, f"{code} got an event twice"
        assert sorted(got) == sorted(expected[code]), f"{code} did not get exactly its events"
        per_filing = defaultdict(list)
        for request in hooks[code].requests:
            per_filing[request.json["filing_id"]].append(request.headers["webhook-id"])
        order = {event_id: i for i, event_id in enumerate(expected[code])}
        for ids in per_filing.values():
            assert ids == sorted(ids, key=order.__getitem__), "a consignment's events arrived out of order"
        total += len(got)
    assert total > 100


def test_two_relays_run_while_events_are_written(client, world, receiver, db, clock, settings, run):
    hook = receiver()
    subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    factory = make_session_factory(db)
    done = threading.Event()
    errors = []

    def relay_loop():
        try:
            while not done.is_set():
                run_relay_once(factory, clock, settings)
                time.sleep(0.01)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    relays = [threading.Thread(target=relay_loop) for _ in range(2)]
    for t in relays:
        t.start()
    written = []
    try:
        for i in range(30):
            written += emit(run, [ent], uuid.uuid4() if i % 2 else None, 2)
        deadline = time.monotonic() + 60
        while len(set(hook.ids)) < len(written) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        for t in relays:
            t.join()
    assert not errors, errors
    assert sorted(hook.ids) == sorted(written)  # all, and none twice


def test_an_event_of_a_running_transaction_is_not_skipped(client, world, receiver, relay, db, clock, settings, run):
    """On PostgreSQL an event of a transaction still running may have a lower sequence than committed ones:
    the relay's cursor waits for it."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    hook = receiver()
    subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    filing = uuid.uuid4()
    slow = make_session_factory(db)()
    ctx = Context(session=slow, clock=clock, settings=settings)
    [slow_event] = [str(record_event(ctx, "filing.updated", subject_type="filing", subject_id=filing,
                                     recipients=[ent], data={"slow": True}, filing_id=filing).id)]
    slow.flush()  # its sequence number is taken now, its commit comes later
    try:
        later = emit(run, [ent], filing, 2)  # committed, with higher sequence numbers
        relay()
        relay()
        assert hook.requests == []  # nothing past the running transaction is final yet
    finally:
        slow.commit()
        slow.close()
    until(relay, lambda: len(hook.requests) == 3)
    assert hook.ids == [slow_event] + later


def test_a_relay_s_own_transaction_does_not_hold_events_back(client, world, receiver, relay, db, clock, settings,
                                                            run):
    """A relay's bookkeeping (deliveries, attempts, cursors) never writes events: while one of its
    transactions runs, events committed after it began are final all the same."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    hook = receiver()
    subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    bookkeeping_sessions, close = relay_module.bookkeeping_factory(make_session_factory(db))
    busy = bookkeeping_sessions()
    try:
        busy.execute(text("SELECT pg_current_xact_id()"))  # a transaction id, taken before the event's
        later = emit(run, [ent], None, 1)
        relay()
        assert hook.ids == later
    finally:
        busy.rollback()
        busy.close()
        close()


def test_an_organisation_never_receives_another_s_events(client, world, receiver, relay, run):
    hooks = {code: receiver() for code in (ENT, OTHER, "0916", "0900", "DCT")}
    for code, hook in hooks.items():
        subscribe(client, world, code, hook.url)
    filed(client, world, 9, ENT)
    filed(client, world, 10, OTHER)
    expected = {code: visible_events(run, code) for code in hooks}
    until(relay, lambda: all(len(hooks[c].requests) == len(expected[c]) for c in hooks))
    relay()
    for code, hook in hooks.items():
        assert sorted(hook.ids) == sorted(expected[code])  # two consignments: each in order, not one after the other
    assert expected["0900"] == [] and expected["DCT"] == [] and len(expected[ENT]) == len(expected[OTHER]) == 3
    assert not set(expected[ENT]) & set(expected[OTHER])


# --- disable, re-enable, redeliver, delete ------------------------------------------------------------------

def test_a_webhook_is_disabled_after_the_failure_streak_and_re_enabled_by_its_owner(
        client, world, receiver, relay, clock, run):
    up = threading.Event()
    hook = receiver(lambda _i, _p: 200 if up.is_set() else 500)
    webhook = subscribe(client, world, ENT, hook.url)
    [ent] = org_ids(run, ENT)
    early = [emit(run, [ent], uuid.uuid4())[0] for _ in range(3)]
    until(relay, lambda: len(hook.requests) == 3, webhook_disable_after_failures=3)
    state = client.get(f"{API}/webhooks/{webhook['id']}", headers=world.headers(ENT)).json()
    assert state["enabled"] is False and state["failure_streak"] == 3
    assert state["disabled_reason"] == "3 consecutive failed attempts"
    assert datetime.fromisoformat(state["disabled_at"]) == clock.now()
    late = emit(run, [ent], uuid.uuid4())
    clock.advance(seconds=3600)
    relay(webhook_disable_after_failures=3)
    assert len(hook.requests) == 3  # nothing is sent to a disabled webhook
    assert client.post(f"{API}/webhooks/{webhook['id']}/enable", headers=world.headers(OTHER)).status_code == 404
    viewer = world.token_with_role(ENT, "auditor", "viewer")
    assert client.post(f"{API}/webhooks/{webhook['id']}/enable", headers=viewer).status_code == 403
    refused = client.post(f"{API}/webhooks/{webhook['id']}/deliveries/{early[0]}/redeliver", headers=world.headers(ENT))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "webhook_disabled"
    up.set()
    enabled = client.post(f"{API}/webhooks/{webhook['id']}/enable", headers=world.headers(ENT))
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["enabled"] is True and enabled.json()["failure_streak"] == 0
    assert enabled.json()["disabled_at"] is None
    until(relay, lambda: len(hook.requests) == 7, webhook_disable_after_failures=3)
    assert sorted(hook.ids[3:]) == sorted(early + late)  # nothing written meanwhile was lost
    assert deliveries(client, world, ENT, webhook["id"], "pending") == []


def test_redelivery_sends_an_event_again(client, world, receiver, relay, run):
    before = filed(client, world, 11)
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url, ["filing.created"])
    filed(client, world, 12)
    until(relay, lambda: len(hook.requests) == 1)
    [sent] = hook.ids
    url = f"{API}/webhooks/{webhook['id']}/deliveries/{sent}/redeliver"
    answer = client.post(url, headers=world.headers(ENT))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending" and len(answer.json()["attempts"]) == 1
    relay()
    assert hook.ids == [sent, sent]
    [again] = [d for d in deliveries(client, world, ENT, webhook["id"]) if d["event_id"] == sent]
    assert again["status"] == "delivered" and len(again["attempts"]) == 2
    # Any event the organisation may see, even one from before the webhook or of another type:
    old = visible_events(run, ENT)[1]
    assert old != sent and before["id"]
    assert client.post(f"{API}/webhooks/{webhook['id']}/deliveries/{old}/redeliver",
                       headers=world.headers(ENT)).status_code == 202
    relay()
    assert hook.ids[-1] == old
    assert Webhook(webhook["secret"]).verify(hook.requests[-1].body, hook.requests[-1].headers)["id"] == old
    # Not an event of another organisation, nor an unknown one, nor through another's webhook:
    theirs = filed(client, world, 13, OTHER)
    their_event = visible_events(run, OTHER)[0]
    assert theirs
    for event_id in (their_event, str(uuid.uuid4()), "nope"):
        gone = client.post(f"{API}/webhooks/{webhook['id']}/deliveries/{event_id}/redeliver",
                           headers=world.headers(ENT))
        assert gone.status_code == 404, gone.text
    assert client.post(url, headers=world.headers(OTHER)).status_code == 404


def test_a_deleted_webhook_gets_nothing_more(client, world, receiver, relay, run):
    hook = receiver()
    webhook = subscribe(client, world, ENT, hook.url)
    filed(client, world, 14)
    until(relay, lambda: len(hook.requests) == 3)
    assert client.delete(f"{API}/webhooks/{webhook['id']}", headers=world.headers(ENT)).status_code == 204
    filed(client, world, 15)
    time.sleep(0.1)
    relay()
    relay()
    assert len(hook.requests) == 3 and count_deliveries(run, webhook["id"]) == 0


# --- the relay in the background ----------------------------------------------------------------------------

def test_the_relay_thread_delivers(client, world, receiver, db, clock, settings):
    hook = receiver()
    subscribe(client, world, ENT, hook.url)
    relay = Relay(make_session_factory(db), clock, settings.model_copy(update={"webhook_relay_interval_seconds": 0.05}))
    relay.start()
    try:
        filed(client, world, 16)
        deadline = time.monotonic() + 30
        while len(hook.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        relay.stop()
    assert len(hook.requests) == 3


def test_the_worker_command_runs_the_relay_once(client, world, receiver, database_url, monkeypatch):
    from typer.testing import CliRunner

    from onewindow.cli import app
    from onewindow.config import get_settings

    hook = receiver()
    subscribe(client, world, ENT, hook.url, ["filing.created"])
    filed(client, world, 17)
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", database_url)
    monkeypatch.setenv("ONEWINDOW_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    try:
        deadline = time.monotonic() + 30
        while not hook.requests and time.monotonic() < deadline:
            result = CliRunner().invoke(app, ["worker", "--once"])
            assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()
    assert '"webhooks_delivered"' in result.output
    assert len(hook.requests) == 1
