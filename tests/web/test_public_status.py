"""The public status query: no sign-in, status and dates only (both databases)."""

from __future__ import annotations

import re

from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"


def test_anyone_sees_the_status_and_dates_of_an_accepted_declaration_and_nothing_else(client, world, port):
    entry = sample_entry(seed=11, containers=1)
    filing = port.post(ENT, "/filings", entry, 201)
    port.post(ENT, f"/filings/{filing['id']}/submit")
    port.accept_all(filing["id"])
    declarations = port.get(ENT, f"/filings/{filing['id']}")["declarations"]
    customs = next(d for d in declarations if d["agency"] == "customs")
    assert "ow_session" not in client.cookies
    page = client.get(f"/status?number={customs['number']}")
    assert page.status_code == 200
    result = re.search(r'<table id="status-result">.*?</table>', page.text, re.S).group(0)
    assert customs["number"] in result and "已受理" in result and "2026-03-02 09:00 CST" in result
    for secret in (entry["consignee"]["name"], entry["consignee"]["uscc"], entry["overseas_party"]["name"],
                   entry["items"][0]["name"], entry["bill_of_lading"], entry["containers"][0]["number"]):
        assert secret not in page.text
    ciq = next(d for d in declarations if d["agency"] == "ciq")
    assert len(ciq["number"]) == 15 and client.get(f"/status?number={ciq['number']}").status_code == 200


def test_a_malformed_or_unknown_number_says_so(client):
    malformed = client.get("/status?number=12345")
    assert malformed.status_code == 400 and 'id="status-problem"' in malformed.text
    unknown = client.get("/status?number=091620269999999999")
    assert unknown.status_code == 404 and 'id="status-problem"' in unknown.text
    assert client.get("/status").status_code == 200
