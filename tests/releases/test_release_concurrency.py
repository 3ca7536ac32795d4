"""Two agencies releasing the same containers at the same moment (PostgreSQL, where requests really overlap)."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select

from onewindow.models import Event
from tests.concurrency import require_postgresql
from tests.flows import API, OFFICES, accepted_filing, ok

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
