"""The public status query over the API (``GET /api/v1/public/status``): no login; the agency, status and dates
of an accepted declaration, nothing else; a malformed number named, an unknown one 404 (both databases)."""

from __future__ import annotations


import pytest

from tests.flows import API, ENT, OFFICES, accepted_filing, error, ok

STATUS = f"{API}/public/status"
FIELDS = {"number", "agency", "status", "filed_at", "accepted_at", "released_at", "gated_out_at"}


def numbers(client, world, filing_id) -> dict[str, str]:
    """Each agency's receipt number of the filing, as its enterprise sees it."""
    detail = ok(client.get(f"{API}/filings/{filing_id}", headers=world.headers(ENT)))
    return {d["agency"]: d["number"] for d in detail["declarations"]}


def test_anyone_gets_the_status_and_dates_of_an_accepted_declaration_and_nothing_else(client, world):
    filing_id, _, (container,) = accepted_filing(client, world, seed=401, containers=1)
    detail = ok(client.get(f"{API}/filings/{filing_id}", headers=world.headers(ENT)))
    by_agency = {d["agency"]: d for d in detail["declarations"]}
    customs = by_agency["customs"]

    answer = client.get(STATUS, params={"number": customs["number"]})
    status = ok(answer)
    assert set(status) == FIELDS
    assert status["number"] == customs["number"] and status["agency"] == "customs"
    assert status["status"] == "accepted"
    assert status["filed_at"] == customs["submitted_at"]
    assert status["accepted_at"] == customs["receipt"]["at"]
    assert status["released_at"] is None and status["gated_out_at"] is None
    for secret in (ENT, detail["data"]["consignee"]["name"], detail["data"]["items"][0]["name"],
                   detail["data"]["bill_of_lading"], container, customs["id"], filing_id):
        assert secret not in answer.text

    ciq = ok(client.get(STATUS, params={"number": by_agency["ciq"]["number"]}))
    assert len(ciq["number"]) == 15 and ciq["agency"] == "ciq" and ciq["status"] == "accepted"
    spaced = " ".join(customs["number"][i:i + 6] for i in range(0, 18, 6))  # as people paste it
    assert ok(client.get(STATUS, params={"number": f" {spaced} "})) == status
    assert ok(client.get(STATUS, params={"number": customs["number"]}, headers=world.headers("0916"))) == status


def test_the_release_and_the_gate_out_show_and_a_hold_takes_the_release_back(client, world, clock):
    filing_id, ids, (container,) = accepted_filing(client, world, seed=402, containers=1)
    number = numbers(client, world, filing_id)["customs"]
    for agency, office in OFFICES.items():
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False},
                       headers=world.headers(office)), 201)
    clock.advance(hours=2)
    ok(client.post(f"{API}/declarations/{ids['customs']}/release", headers=world.headers("0916")))
    released = ok(client.get(STATUS, params={"number": number}))
    assert released["status"] == "released" and released["released_at"] == clock.now().isoformat().replace(
        "+00:00", "Z")
    assert released["gated_out_at"] is None

    ok(client.post(f"{API}/declarations/{ids['customs']}/revoke-release", json={"reason": "document check"},
                   headers=world.headers("0916")))
    assert ok(client.get(STATUS, params={"number": number}))["released_at"] is None

    ok(client.post(f"{API}/declarations/{ids['customs']}/release", headers=world.headers("0916")))
    ok(client.post(f"{API}/declarations/{ids['ciq']}/release", headers=world.headers("210600")))
    clock.advance(minutes=30)
    ok(client.post(f"{API}/containers/{container}/gate-out", headers=world.headers("DCT")))
    gone = ok(client.get(STATUS, params={"number": number}))
    assert gone["released_at"] is not None and gone["gated_out_at"] is not None
    assert gone["gated_out_at"] > gone["released_at"] > gone["accepted_at"]


@pytest.mark.parametrize("number, message", [
    ("12345", "18 digits"),
    ("09162026A00000001X", "18 digits"),
    ("", "give a declaration number"),
    ("   ", "give a declaration number"),
    ("0" * 41, "40"),
])
def test_a_malformed_number_is_named(client, number, message):
    problem = error(client.get(STATUS, params={"number": number}), 422)
    assert problem["code"] == "validation_failed"
    [detail] = problem["details"]
    assert detail["loc"] == ["query", "number"] and message in detail["msg"]


def test_no_number_at_all_is_named(client):
    [detail] = error(client.get(STATUS), 422)["details"]
    assert detail["loc"] == ["query", "number"]


def test_a_number_no_accepted_declaration_has_is_not_found(client, world):
    assert error(client.get(STATUS, params={"number": "091620269999999999"}), 404)["code"] == "not_found"
    filing_id, _, _ = accepted_filing(client, world, seed=403, containers=1, accept=())  # filed, not accepted
    assert set(numbers(client, world, filing_id).values()) == {None}
