"""POST /api/v1/filings/{id}/submit: filing staged declarations, with and without an Idempotency-Key."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from onewindow.models import Event, IdempotencyRecord
from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
OTHER = "91210211MA0XY7L2XK"
FILINGS = "/api/v1/filings"


def create(client, world, raw=None, org=ENT) -> dict:
    answer = client.post(FILINGS, json=raw or sample_entry(seed=61, items=3), headers=world.headers(org))
    assert answer.status_code == 201, answer.text
    return answer.json()


def submit(client, world, filing_id, body=None, org=ENT, key=None):
    headers = {**world.headers(org), **({"Idempotency-Key": key} if key is not None else {})}
    return client.post(f"{FILINGS}/{filing_id}/submit", json=body, headers=headers)


def statuses(filing) -> dict[str, str]:
    return {d["agency"]: d["status"] for d in filing["declarations"]}


def count_events(run, type_: str, subject_id=None) -> int:
    def query(ctx):
        q = select(func.count()).select_from(Event).where(Event.type == type_)
        if subject_id is not None:
            q = q.where(Event.subject_id == uuid.UUID(str(subject_id)))
        return ctx.session.scalar(q)
    return run(query)


def test_without_a_body_every_staged_declaration_is_filed(client, world, clock):
    filing = create(client, world)
    clock.advance(30)
    answer = submit(client, world, filing["id"])
    assert answer.status_code == 200, answer.text
    filed = answer.json()
    assert filed["status"] == "filed"
    assert statuses(filed) == {"ciq": "submitted", "customs": "submitted"}
    for d in filed["declarations"]:
        assert d["submitted_at"] == "2026-03-02T01:00:30Z"
        assert d["number"] is None and d["receipt"] is None
    assert filed["version"] == 1
    detail = client.get(f"{FILINGS}/{filing['id']}", headers=world.headers(ENT)).json()
    assert {k: v for k, v in detail.items() if k not in ("inspections", "releases", "gate_outs")} == filed


@pytest.mark.parametrize("body", [{}, {"agencies": None}], ids=["empty-object", "null-agencies"])
def test_an_empty_request_also_files_everything(client, world, body):
    filing = create(client, world)
    answer = submit(client, world, filing["id"], body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "filed"
    assert statuses(answer.json()) == {"ciq": "submitted", "customs": "submitted"}


def test_agencies_are_filed_one_at_a_time(client, world):
    filing = create(client, world)
    first = submit(client, world, filing["id"], {"agencies": ["ciq"]})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "draft"
    assert statuses(first.json()) == {"ciq": "submitted", "customs": "draft"}
    assert [d["agency"] for d in client.get("/api/v1/declarations", headers=world.headers("210600")).json()] == [
        "ciq"]
    assert client.get("/api/v1/declarations", headers=world.headers("0916")).json() == []

    second = submit(client, world, filing["id"], {"agencies": ["customs"]})
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "filed"
    assert statuses(second.json()) == {"ciq": "submitted", "customs": "submitted"}


def test_naming_both_agencies_files_both_once(client, world, run):
    filing = create(client, world)
    answer = submit(client, world, filing["id"], {"agencies": ["customs", "ciq", "customs"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "filed"
    assert count_events(run, "declaration.submitted") == 2


def test_a_customs_only_filing_has_no_ciq_part_to_file(client, world):
    filing = create(client, world, sample_entry(seed=62, inspected=False))
    answer = submit(client, world, filing["id"], {"agencies": ["ciq"]})
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["agencies", 0]]
    assert statuses(client.get(f"{FILINGS}/{filing['id']}", headers=world.headers(ENT)).json()) == {
        "customs": "draft"}


@pytest.mark.parametrize(("agencies", "locs"), [
    (["border"], [["agencies", 0]]),
    (["customs", "nonsense"], [["agencies", 1]]),
    (["x", "ciq", "y"], [["agencies", 0], ["agencies", 2]]),
    ([], [["agencies"]]),
], ids=["unknown", "second-unknown", "two-unknown", "empty"])
def test_unknown_agencies_are_named(client, world, run, agencies, locs):
    filing = create(client, world)
    answer = submit(client, world, filing["id"], {"agencies": agencies})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"
    assert [d["loc"] for d in answer.json()["error"]["details"]] == locs
    # nothing was filed, not even the valid agency named alongside
    assert statuses(client.get(f"{FILINGS}/{filing['id']}", headers=world.headers(ENT)).json()) == {
        "ciq": "draft", "customs": "draft"}
    assert count_events(run, "declaration.submitted") == 0


@pytest.mark.parametrize("body", [{"agencies": "ciq"}, {"agencies": [1]}, {"agency": ["ciq"]}, ["ciq"]],
                         ids=["string", "number", "misspelt-field", "array"])
def test_a_malformed_submit_request_is_refused(client, world, body):
    filing = create(client, world)
    answer = submit(client, world, filing["id"], body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"


def test_an_agency_already_filed_cannot_be_filed_again(client, world, run):
    filing = create(client, world)
    assert submit(client, world, filing["id"], {"agencies": ["customs"]}).status_code == 200
    again = submit(client, world, filing["id"], {"agencies": ["customs", "ciq"]})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_filed"
    assert "customs" in again.json()["error"]["message"]
    # the staged CIQ declaration named with it was not filed either
    seen = client.get(f"{FILINGS}/{filing['id']}", headers=world.headers(ENT)).json()
    assert statuses(seen) == {"ciq": "draft", "customs": "submitted"}
    assert count_events(run, "declaration.submitted") == 1


def test_nothing_staged_is_a_conflict(client, world):
    filing = create(client, world)
    assert submit(client, world, filing["id"]).status_code == 200
    again = submit(client, world, filing["id"])
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "nothing_staged"


def test_an_accepted_declaration_cannot_be_filed_again(client, world):
    filing = create(client, world)
    submit(client, world, filing["id"], {"agencies": ["customs"]})
    customs = next(d for d in filing["declarations"] if d["agency"] == "customs")
    assert client.post(f"/api/v1/declarations/{customs['id']}/accept", headers=world.headers("0916")).status_code \
        == 200
    again = submit(client, world, filing["id"], {"agencies": ["customs"]})
    assert again.status_code == 409, again.text
    # the CIQ part is still staged and can be filed on its own
    assert submit(client, world, filing["id"]).json()["status"] == "filed"


# --- Idempotency-Key ---------------------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_replays_the_first_answer(client, world, run, clock):
    filing = create(client, world)
    first = submit(client, world, filing["id"], key="submit-0001")
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    clock.advance(120)
    retry = submit(client, world, filing["id"], key="submit-0001")
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    for d in filing["declarations"]:
        assert count_events(run, "declaration.submitted", d["id"]) == 1
    assert count_events(run, "declaration.submitted") == 2
    # without the key the same request is a new request, and nothing is staged any more
    assert submit(client, world, filing["id"]).status_code == 409


def test_a_replay_returns_the_first_answer_even_after_later_changes(client, world):
    filing = create(client, world)
    first = submit(client, world, filing["id"], {"agencies": ["ciq"]}, key="k-ciq")
    assert first.json()["status"] == "draft"
    assert submit(client, world, filing["id"], {"agencies": ["customs"]}).status_code == 200
    retry = submit(client, world, filing["id"], {"agencies": ["ciq"]}, key="k-ciq")
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert statuses(retry.json()) == {"ciq": "submitted", "customs": "draft"}


@pytest.mark.parametrize("second_body", [{"agencies": ["ciq"]}, {"agencies": ["ciq", "customs"]}],
                         ids=["other-agencies", "named-agencies"])
def test_the_same_key_for_a_different_request_is_refused(client, world, run, second_body):
    filing = create(client, world)
    assert submit(client, world, filing["id"], key="key-1").status_code == 200
    answer = submit(client, world, filing["id"], second_body, key="key-1")
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["headers", "Idempotency-Key"]]
    assert "Idempotent-Replayed" not in answer.headers
    assert count_events(run, "declaration.submitted") == 2


def test_the_same_request_in_another_order_or_spelling_replays(client, world):
    """The agencies are a set and the filing id a UUID: the same request sent again however they are written
    gets the first answer."""
    filing = create(client, world)
    first = submit(client, world, filing["id"], {"agencies": ["customs", "ciq"]}, key="k-both")
    assert first.status_code == 200, first.text
    for body, filing_id in (({"agencies": ["ciq", "customs"]}, filing["id"]),
                            ({"agencies": ["ciq", "customs", "ciq"]}, filing["id"].upper())):
        retry = submit(client, world, filing_id, body, key="k-both")
        assert (retry.status_code, retry.headers.get("Idempotent-Replayed")) == (200, "true"), retry.text
        assert retry.json() == first.json()


def test_a_key_replays_nothing_to_a_user_whose_role_does_not_grant_the_action(client, world):
    """A viewer of the enterprise sending the declarant's key gets 403, as without it, not the stored answer."""
    filing = create(client, world)
    entry = sample_entry(seed=67)
    assert client.post(FILINGS, json=entry, headers={**world.headers(ENT), "Idempotency-Key": "c-1"}).status_code == 201
    assert submit(client, world, filing["id"], key="s-1").status_code == 200
    viewer = world.token_with_role(ENT, "viewer1", "viewer")
    for path, body, key in ((FILINGS, entry, "c-1"), (f"{FILINGS}/{filing['id']}/submit", None, "s-1")):
        answer = client.post(path, json=body, headers={**viewer, "Idempotency-Key": key})
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden"), answer.text
        assert "Idempotent-Replayed" not in answer.headers


def test_the_same_key_for_another_filing_is_refused(client, world):
    one = create(client, world, sample_entry(seed=63))
    two = create(client, world, sample_entry(seed=64))
    assert submit(client, world, one["id"], key="shared").status_code == 200
    answer = submit(client, world, two["id"], key="shared")
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["headers", "Idempotency-Key"]]
    assert statuses(client.get(f"{FILINGS}/{two['id']}", headers=world.headers(ENT)).json()) == {
        "ciq": "draft", "customs": "draft"}


def test_keys_are_per_organisation(client, world, run):
    mine = create(client, world, sample_entry(seed=65))
    theirs = create(client, world, sample_entry(seed=66, consignee_uscc=OTHER), org=OTHER)
    assert submit(client, world, mine["id"], key="same-key").status_code == 200

    # the first enterprise's request under its key does not hand its stored answer to another organisation
    stolen = submit(client, world, mine["id"], key="same-key", org=OTHER)
    assert stolen.status_code == 404, stolen.text
    assert stolen.json()["error"]["code"] == "not_found"
    assert "declarations" not in stolen.text
    assert "Idempotent-Replayed" not in stolen.headers

    # the other enterprise's own request with the same key is a new request
    answer = submit(client, world, theirs["id"], key="same-key", org=OTHER)
    assert answer.status_code == 200, answer.text
    assert "Idempotent-Replayed" not in answer.headers
    assert answer.json()["id"] == theirs["id"]
    assert answer.json()["status"] == "filed"
    retry = submit(client, world, theirs["id"], key="same-key", org=OTHER)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == answer.json()

    assert run(lambda ctx: ctx.session.scalar(select(func.count()).select_from(IdempotencyRecord))) == 2


def test_a_failed_request_is_not_remembered_under_its_key(client, world, run):
    filing = create(client, world)
    failed = submit(client, world, filing["id"], {"agencies": ["border"]}, key="retry-me")
    assert failed.status_code == 422
    assert run(lambda ctx: ctx.session.scalar(select(func.count()).select_from(IdempotencyRecord))) == 0
    answer = submit(client, world, filing["id"], key="retry-me")
    assert answer.status_code == 200, answer.text
    assert "Idempotent-Replayed" not in answer.headers
    assert answer.json()["status"] == "filed"


@pytest.mark.parametrize("key", ["", "k" * 256], ids=["empty", "too-long"])
def test_a_malformed_key_is_refused(client, world, run, key):
    filing = create(client, world)
    answer = submit(client, world, filing["id"], key=key)
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["headers", "Idempotency-Key"]]
    assert count_events(run, "declaration.submitted") == 0
