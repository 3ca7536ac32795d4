"""Two agencies releasing the same containers at the same moment (PostgreSQL, where requests really overlap)."""

from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import select

from onewindow.filings import declarations, repository
from onewindow.models import Event
from tests.concurrency import HOLD_SECONDS, first_holds, one_after_the_other, require_postgresql
from tests.flows import API, OFFICES, TERMINAL, accepted_filing, ok

ROUNDS = 15


def decided_filing(client, world, seed, containers=2):
    """A consignment both agencies accepted and decided not to inspect: ready to be released."""
    _, ids, numbers = accepted_filing(client, world, seed=seed, containers=containers)
    for agency, office in OFFICES.items():
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False},
                       headers=world.headers(office)), 201)
    return ids, numbers


def released_events(run) -> Counter:
    def query(ctx):
        return Counter(e.data["container"] for e in ctx.session.scalars(
            select(Event).where(Event.type == "container.released")))
    return run(query)


def test_simultaneous_releases_publish_container_released_exactly_once(client, world, run, db):
    require_postgresql(db)
    rounds = []
    for i in range(ROUNDS):
        ids, numbers = decided_filing(client, world, seed=3000 + i)
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def release(agency: str) -> None:
            barrier.wait()
            answers[agency] = client.post(f"{API}/declarations/{ids[agency]}/release",
                                          headers=world.headers(OFFICES[agency])).status_code

        threads = [threading.Thread(target=release, args=(agency,)) for agency in OFFICES]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert answers == {"customs": 200, "ciq": 200}
        rounds.append(numbers)
    published = released_events(run)
    statuses = {n: ok(client.get(f"{API}/containers/{n}/release", headers=world.headers("DCT")))["released"]
                for numbers in rounds for n in numbers}
    missing = sorted(n for n in statuses if published[n] != 1 or not statuses[n])
    assert missing == [], (f"{len(missing)} of {len(statuses)} containers not published exactly once / not released",
                           {n: (published[n], statuses[n]) for n in missing})


def test_the_last_release_sees_a_release_committed_while_it_waited(client, world, run, db):
    """One interleaving made deterministic: customs' transaction has read its declaration and filing (as
    release() does before it locks the container visits) when CIQ's release commits; customs' release must
    still see CIQ's and publish the combined release."""
    require_postgresql(db)
    from onewindow.filings import repository
    from onewindow.releases import service

    ids, (number,) = decided_filing(client, world, seed=3100, containers=1)

    def customs_release(ctx):
        declaration = repository.get_declaration(ctx, ids["customs"])
        assert declaration.filing.port == "CNDAG"  # what release() reads before it locks the visits
        run(lambda other: service.release(other, ids["ciq"]), as_org="210600")  # commits meanwhile
        service.release(ctx, ids["customs"])

    run(customs_release, as_org="0916")
    status = ok(client.get(f"{API}/containers/{number}/release", headers=world.headers("DCT")))
    assert (status["released"], status["pending"], released_events(run)[number]) == (True, [], 1)


def test_an_acceptance_that_waited_for_a_release_comes_after_it_in_the_log(client, world, run, db, monkeypatch,
                                                                           caplog):
    """CIQ accepts its declaration of a container while customs releases the container (accepted by customs
    alone until then). The acceptance began first, so its transaction has the earlier id, the log's order on
    PostgreSQL; it then waits for the container's lock, which the release holds. The release commits
    ``container.released``; once the acceptance has the lock, the container waits for CIQ too, and it is held
    again. The log (what the terminal reads, in order) has them as they were committed, the release first: the
    acceptance is run again, with a later id. Without that, the terminal would read the hold first and the
    release last, and take the container for released."""
    require_postgresql(db)
    caplog.set_level("INFO", logger="onewindow")
    _, ids, (number,) = accepted_filing(client, world, seed=3100, containers=1, accept=("customs",))
    first_run = threading.local()
    lock_visits = declarations.open_visits

    def waiting_before_the_lock(ctx, numbers, **kw):
        if not getattr(first_run, "over", False):  # the acceptance's first run; the second runs straight through
            first_run.over = True
            time.sleep(HOLD_SECONDS)  # its id taken (the declaration locked, its receipt written); the release's next
        return lock_visits(ctx, numbers, **kw)

    monkeypatch.setattr(declarations, "open_visits", waiting_before_the_lock)
    accepted, released = one_after_the_other(
        lambda: client.post(f"{API}/declarations/{ids['ciq']}/accept", headers=world.headers(OFFICES["ciq"])),
        lambda: client.post(f"{API}/declarations/{ids['customs']}/release", headers=world.headers(OFFICES["customs"])))
    assert (accepted.status_code, released.status_code) == (200, 200), (accepted.text, released.text)

    def in_the_log(ctx):
        return [t for t, data in ctx.session.execute(select(Event.type, Event.data).where(
            Event.type.like("container.%")).order_by(Event.tx, Event.seq)) if data.get("container") == number]

    assert run(in_the_log) == ["container.released", "container.release_revoked"]
    feed = ok(client.get(f"{API}/events", params={"limit": 1000}, headers=world.headers(TERMINAL)))["events"]
    assert [e["type"] for e in feed if e["type"] in ("container.released", "container.release_revoked")] == [
        "container.released", "container.release_revoked"]
    status = ok(client.get(f"{API}/containers/{number}/release", headers=world.headers(TERMINAL)))
    assert (status["released"], status["pending"]) == (False, ["ciq"])
    assert any("run again" in r.getMessage() for r in caplog.records)


def test_a_release_and_an_amendment_notifying_its_declaration_do_not_wait_for_each_other(
        client, world, db, monkeypatch, caplog):
    """Customs releases its declaration of containers X and Y (it locks the declaration, then the containers)
    while CIQ amends its own to cover Y only (it locks X, then leaves customs a notice of the change). The
    notice refers to customs' declaration, locked by the release: a lock for changing the row, not its key,
    lets it be written at once (``FOR UPDATE`` made it wait for the release, which waited for X: PostgreSQL
    broke that deadlock after a second and one of them was run again)."""
    require_postgresql(db)
    _, ids, (x, y) = accepted_filing(client, world, seed=3200, containers=2)
    first_holds(monkeypatch, repository, "get_declaration", lambda ctx: ctx.actor.kind.value == "customs")
    caplog.set_level("INFO", logger="onewindow")
    released, amended = one_after_the_other(
        lambda: client.post(f"{API}/declarations/{ids['customs']}/release", headers=world.headers(OFFICES["customs"])),
        lambda: client.post(f"{API}/declarations/{ids['ciq']}/amendments", headers=world.headers(OFFICES["ciq"]),
                            json={"changes": {"containers": [{"number": y, "size_type": "45R1"}]},
                                  "reason": "short-shipped"}))
    assert (ok(released)["status"], ok(amended, 201)["version"]) == ("released", 2)
    assert [r.getMessage() for r in caplog.records if "run again" in r.getMessage()] == []
    status = {n: ok(client.get(f"{API}/containers/{n}/release", headers=world.headers(TERMINAL)))["pending"]
              for n in (x, y)}
    assert status == {x: [], y: ["ciq"]}
