"""The pages keep the API's limits on free texts (both databases): a reason or a location longer than the API
allows is shown as the field's error, and nothing is stored."""

from __future__ import annotations

import re

from tests.web.test_agency_pages import ENTERPRISE, api, filed, post
from tests.web.test_amendment_pages import form_values
from tests.web.test_terminal_pages import relocation_task

TOO_LONG_REASON = "String should have at most 1000 characters"


def test_a_rejection_reason_longer_than_the_api_allows_is_the_fields_error(client, pages, world):
    case = filed(client, world)
    pages.sign_in(client, "0916")
    client.cookies.set("ow_lang", "en")
    refused = post(client, f"/customs/declarations/{case['customs']}/reject", reason="x" * 3000)
    assert refused.status_code == 422
    assert re.search(rf'<small class="field-error" id="e-reason">{TOO_LONG_REASON}</small>', refused.text)
    seen = api(client, world, "0916", "GET", f"/declarations/{case['customs']}")
    assert (seen["status"], seen["receipt"]) == ("submitted", None)


def test_a_hold_reason_longer_than_the_api_allows_is_the_fields_error(client, pages, world):
    case = filed(client, world)
    api(client, world, "0916", "POST", f"/declarations/{case['customs']}/accept")
    api(client, world, "0916", "POST", f"/declarations/{case['customs']}/decision", {"inspect": False}, 201)
    api(client, world, "0916", "POST", f"/declarations/{case['customs']}/release")
    pages.sign_in(client, "0916")
    client.cookies.set("ow_lang", "en")
    refused = post(client, f"/customs/declarations/{case['customs']}/revoke", reason="x" * 5000)
    assert refused.status_code == 422 and f'id="e-reason">{TOO_LONG_REASON}<' in refused.text
    filing = api(client, world, ENTERPRISE, "GET", f"/filings/{case['filing']}")
    assert [r["revoke_reason"] for r in filing["releases"]] == [None]


def test_an_amendment_reason_longer_than_the_api_allows_is_the_fields_error(client, pages, world):
    case = filed(client, world)
    pages.sign_in(client, ENTERPRISE)
    client.cookies.set("ow_lang", "en")
    url = f"/enterprise/declarations/{case['customs']}/amend"
    values = form_values(client.get(url).text)
    refused = client.post(url, data=values | {"remarks": "更正", "reason": "x" * 5000}, follow_redirects=False)
    assert refused.status_code == 422
    assert re.search(rf'data-field="reason">{TOO_LONG_REASON}<', refused.text)
    assert api(client, world, ENTERPRISE, "GET", f"/declarations/{case['customs']}")["version"] == 1


def test_a_location_longer_than_the_api_allows_is_the_fields_error(client, pages, world):
    case = filed(client, world)
    task = relocation_task(client, world, case)
    pages.sign_in(client, "DCT")
    client.cookies.set("ow_lang", "en")
    refused = post(client, f"/terminal/tasks/{task['id']}/complete", location="B" * 3000)
    assert refused.status_code == 422
    assert 'id="task-error">String should have at most 200 characters<' in refused.text
    [inspection] = api(client, world, ENTERPRISE, "GET", f"/inspections?filing={case['filing']}")
    assert (inspection["status"], inspection["location"]) == ("awaiting_relocation", None)
    assert [t["status"] for t in api(client, world, "DCT", "GET", "/terminal/tasks")] == ["open"]
