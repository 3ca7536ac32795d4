"""Two requests on one filing at once (PostgreSQL, where requests really overlap): the second waits for the
first's lock on the filing, then sees the declarations as the first left them."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from onewindow.filings import repository
from onewindow.models import Event
from onewindow.samples import sample_entry
from tests.concurrency import first_call_holds, first_holds, one_after_the_other, require_postgresql
from tests.filings.test_staging_model import PLAIN_LINE
from tests.flows import API, ENT, OFFICES, error, ok


def _filing(client, world, seed: int) -> tuple[dict, dict]:
    entry = sample_entry(seed=seed, containers=1, inspected=True)
    return entry, ok(client.post(f"{API}/filings", json=entry, headers=world.headers(ENT)), 201)


def test_a_submit_that_waited_for_another_finds_nothing_left_to_file(client, world, run, db, monkeypatch):
    require_postgresql(db)
    _, filing = _filing(client, world, seed=310)
    first_call_holds(monkeypatch, repository, "get_filing")
    submit = lambda: client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT))  # noqa: E731
    first, second = one_after_the_other(submit, submit)
    assert {d["status"] for d in ok(first)["declarations"]} == {"submitted"}
    assert error(second, 409)["code"] == "nothing_staged"
    submitted = run(lambda ctx: ctx.session.scalar(select(func.count()).where(
        Event.type == "declaration.submitted", Event.filing_id == filing["id"])))
    assert submitted == 2


def test_an_edit_that_waited_for_the_one_bringing_the_ciq_declaration_keeps_that_one(
        client, world, db, monkeypatch):
    """The goods were edited to need no inspection (the CIQ draft discarded); one clerk edits them back (a CIQ
    draft is made again) while another edits the remarks: the filing has one CIQ declaration."""
    require_postgresql(db)
    entry, filing = _filing(client, world, seed=320)
    plain = [{**entry["items"][0], **PLAIN_LINE}, *entry["items"][1:]]
    url, headers = f"{API}/filings/{filing['id']}", world.headers(ENT)
    assert [d["agency"] for d in ok(client.patch(url, json={"items": plain}, headers=headers))["declarations"]
            ] == ["customs"]
    first_call_holds(monkeypatch, repository, "get_filing")
    first, second = one_after_the_other(lambda: client.patch(url, json={"items": entry["items"]}, headers=headers),
                                        lambda: client.patch(url, json={"remarks": "urgent"}, headers=headers))
    assert (ok(first)["version"], ok(second)["version"]) == (3, 4)
    assert sorted(d["agency"] for d in ok(client.get(url, headers=headers))["declarations"]) == ["ciq", "customs"]


def test_a_rejection_and_an_amendment_of_one_filing_take_their_locks_in_one_order(
        client, world, db, monkeypatch, caplog):
    """The enterprise amends the customs declaration (it locks the filing, then the declaration) while customs
    rejects it (which changes the filing's status): the rejection waits for the filing's lock instead of
    holding the declaration's meanwhile, so neither waits for the other (before, PostgreSQL broke the
    deadlock after a second and one of them was run again)."""
    require_postgresql(db)
    _, filing = _filing(client, world, seed=340)
    ok(client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT)))
    customs = next(d["id"] for d in filing["declarations"] if d["agency"] == "customs")
    first_holds(monkeypatch, repository, "get_filing_unscoped", lambda ctx: ctx.actor.kind.value == "enterprise")
    caplog.set_level("INFO", logger="onewindow")
    amended, rejected = one_after_the_other(
        lambda: client.post(f"{API}/declarations/{customs}/amendments", headers=world.headers(ENT),
                            json={"changes": {"remarks": "urgent"}, "reason": "corrected"}),
        lambda: client.post(f"{API}/declarations/{customs}/reject", json={"reason": "bill of lading missing"},
                            headers=world.headers(OFFICES["customs"])))
    assert (ok(amended, 201)["version"], ok(rejected)["status"]) == (2, "rejected")
    assert [r.getMessage() for r in caplog.records if "run again" in r.getMessage()] == []


def test_an_amendment_that_waited_for_an_acceptance_comes_after_it_in_the_log(
        client, world, run, db, monkeypatch, caplog):
    """The enterprise amends its customs declaration (it locks the filing: its transaction has its id) while
    customs accepts the declaration (it locks only the declaration, with a later id, and commits first). The
    amendment then takes the declaration, accepted now, to version 2. In the log, which PostgreSQL orders by
    the transactions' ids, ``declaration.amended`` would have come before ``declaration.accepted``: the
    office would read its acceptance of version 1 as the last word. The amendment is run again instead, and
    its event comes after."""
    require_postgresql(db)
    _, filing = _filing(client, world, seed=350)
    ok(client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT)))
    customs = next(d["id"] for d in filing["declarations"] if d["agency"] == "customs")
    first_call_holds(monkeypatch, repository, "get_filing_unscoped")
    caplog.set_level("INFO", logger="onewindow")
    amended, accepted = one_after_the_other(
        lambda: client.post(f"{API}/declarations/{customs}/amendments", headers=world.headers(ENT),
                            json={"changes": {"remarks": "urgent"}, "reason": "corrected"}),
        lambda: client.post(f"{API}/declarations/{customs}/accept", headers=world.headers(OFFICES["customs"])))
    assert (ok(amended, 201)["version"], ok(accepted)["version"]) == (2, 1)
    in_the_log = run(lambda ctx: ctx.session.execute(
        select(Event.type, Event.data["version"].as_integer()).where(Event.subject_id == uuid.UUID(customs))
        .order_by(Event.tx, Event.seq)).all())
    assert [tuple(e) for e in in_the_log] == [
        ("declaration.submitted", 1), ("declaration.accepted", 1), ("declaration.amended", 2)]
    assert any("run again" in r.getMessage() for r in caplog.records)
