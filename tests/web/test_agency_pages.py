"""The customs and CIQ workbench pages: who sees them, and each action through the forms (both databases)."""

from __future__ import annotations

import re

import pytest

from onewindow.samples import sample_entry

API = "/api/v1"
ENTERPRISE = "91210200MA0QK1P3AF"
OFFICE = {"customs": "0916", "ciq": "210600"}


def api(client, world, who: str, method: str, path: str, body=None, status: int = 200):
    answer = client.request(method, API + path, json=body, headers=world.headers(who))
    assert answer.status_code == status, answer.text
    return answer.json()


def filed(client, world, seed: int = 7) -> dict:
    """A filed consignment (one container): its entry, filing id and declaration ids by agency."""
    entry = sample_entry(seed=seed, containers=1, items=2)
    filing = api(client, world, ENTERPRISE, "POST", "/filings", entry, 201)
    api(client, world, ENTERPRISE, "POST", f"/filings/{filing['id']}/submit")
    return {"entry": entry, "filing": filing["id"], "container": entry["containers"][0]["number"],
            **{d["agency"]: d["id"] for d in filing["declarations"]}}


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def post(client, url: str, **data):
    """Submit a form of the page at ``url``'s area with the session's token."""
    page = client.get("/status")
    return client.post(url, data={**data, "csrf_token": token(page.text)}, follow_redirects=False)


PAGES = ["/customs/declarations", "/customs/declarations?status=accepted", "/customs/inspections",
         "/ciq/declarations", "/ciq/inspections"]
OWNER = {"/customs": "0916", "/ciq": "210600"}


@pytest.mark.parametrize("path", PAGES)
def test_each_workbench_page_is_for_its_agency_only(client, pages, path):
    owner = next(code for prefix, code in OWNER.items() if path.startswith(prefix))
    anonymous = client.get(path, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    for code in ("0916", "210600", "DCT", ENTERPRISE, "PORTOFFICE"):
        client.cookies.clear()
        pages.sign_in(client, code)
        answer = client.get(path)
        assert answer.status_code == (200 if code == owner else 404), (code, answer.status_code)
    client.cookies.clear()
    pages.add_user(owner, "reader", "viewer")
    pages.sign_in(client, owner, "reader")
    assert client.get(path).status_code == 200


def test_a_declaration_page_is_for_the_office_it_is_routed_to(client, pages, world):
    case = filed(client, world)
    customs_page, ciq_page = f"/customs/declarations/{case['customs']}", f"/ciq/declarations/{case['ciq']}"
    assert client.get(customs_page, follow_redirects=False).status_code == 303
    for code, allowed in (("0916", {customs_page}), ("210600", {ciq_page}), ("0900", set()), ("210000", set()),
                          (ENTERPRISE, set()), ("DCT", set())):
        client.cookies.clear()
        pages.sign_in(client, code)
        for path in (customs_page, ciq_page, f"/customs/declarations/{case['ciq']}"):
            assert client.get(path).status_code == (200 if path in allowed else 404), (code, path)
    assert client.get("/customs/declarations/not-an-id").status_code in (404, 422)


def test_the_queue_lists_the_offices_declarations_by_status(client, pages, world):
    case = filed(client, world)
    pages.sign_in(client, "0916")
    queue = client.get("/customs/declarations")
    assert queue.status_code == 200
    assert f"/customs/declarations/{case['customs']}" in queue.text
    assert case["entry"]["bill_of_lading"] in queue.text
    assert 'data-status="submitted" aria-current="page"' in queue.text
    accepted = client.get("/customs/declarations?status=accepted")
    assert case["customs"] not in accepted.text
    client.cookies.clear()
    pages.sign_in(client, "0900")  # another customs office: nothing routed to it
    assert case["customs"] not in client.get("/customs/declarations").text


def test_accept_gives_the_receipt_number_and_reject_needs_a_reason(client, pages, world):
    case = filed(client, world)
    pages.sign_in(client, "210600")
    url = f"/ciq/declarations/{case['ciq']}"
    refused = post(client, f"{url}/reject", reason="  ")
    assert refused.status_code == 422 and 'id="e-reason"' in refused.text
    assert "退单须填写原因" in refused.text  # the reader's language
    assert api(client, world, "210600", "GET", f"/declarations/{case['ciq']}")["status"] == "submitted"
    accepted = post(client, f"{url}/accept")
    assert accepted.status_code == 303 and accepted.headers["location"] == f"{url}?done=accepted"
    number = api(client, world, "210600", "GET", f"/declarations/{case['ciq']}")["number"]
    assert re.fullmatch(r"\d{15}", number)
    page = client.get(url)
    assert number in page.text and 'data-status="accepted"' in page.text and 'id="decision-form"' in page.text
    again = post(client, f"{url}/accept")
    assert again.status_code == 409 and 'id="action-error" data-form="receipt"' in again.text
    assert "申报单已受理；只有已申报待受理的申报单可以受理或退回" in again.text  # the refusal, in the reader's language


def test_reject_sends_the_reason_to_the_enterprise(client, pages, world):
    case = filed(client, world)
    pages.sign_in(client, "0916")
    answer = post(client, f"/customs/declarations/{case['customs']}/reject", reason="发票金额与申报不符")
    assert answer.status_code == 303
    filing = api(client, world, ENTERPRISE, "GET", f"/filings/{case['filing']}")
    [customs] = [d for d in filing["declarations"] if d["agency"] == "customs"]
    assert customs["status"] == "rejected" and customs["receipt"]["reason"] == "发票金额与申报不符"


def test_the_decision_form_names_what_is_wrong_and_then_matches(client, pages, world):
    case = filed(client, world)
    for agency in ("customs", "ciq"):
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/accept")
    pages.sign_in(client, "0916")
    url = f"/customs/declarations/{case['customs']}"
    wrong = post(client, f"{url}/decision", inspect="yes", kind="")
    assert wrong.status_code == 422
    assert 'id="e-containers"' in wrong.text and 'id="e-kind"' in wrong.text
    decided = post(client, f"{url}/decision", inspect="yes", containers=case["container"], kind="physical",
                   reason="风险规则 R-17")
    assert decided.status_code == 303
    page = client.get(url)
    assert 'id="decision"' in page.text and "风险规则 R-17" in page.text  # the agency reads its reason
    client.cookies.clear()
    pages.sign_in(client, "210600")
    post(client, f"/ciq/declarations/{case['ciq']}/decision", inspect="yes", containers=case["container"],
         kind="quarantine_treatment", reason="疫区来源")
    [inspection] = api(client, world, ENTERPRISE, "GET", f"/inspections?filing={case['filing']}")
    assert inspection["joint"] and inspection["agencies"] == ["ciq", "customs"]
    day = client.get("/ciq/inspections")
    assert inspection["id"] in day.text and case["container"] in day.text and "疫区来源" in day.text
    filing_page = api(client, world, ENTERPRISE, "GET", f"/filings/{case['filing']}")
    assert "疫区来源" not in str(filing_page)  # confidential: never shown to the enterprise


def test_no_inspection_then_release_and_hold(client, pages, world):
    case = filed(client, world)
    api(client, world, "0916", "POST", f"/declarations/{case['customs']}/accept")
    pages.sign_in(client, "0916")
    url = f"/customs/declarations/{case['customs']}"
    assert post(client, f"{url}/decision", inspect="no").status_code == 303
    assert post(client, f"{url}/release").status_code == 303
    page = client.get(url)
    assert 'data-status="released"' in page.text and 'id="hold-form"' in page.text
    no_reason = post(client, f"{url}/revoke", reason="")
    assert no_reason.status_code == 422 and "暂停放行须填写原因" in no_reason.text
    assert post(client, f"{url}/revoke", reason="布控指令").status_code == 303
    assert api(client, world, "0916", "GET", f"/declarations/{case['customs']}")["status"] == "accepted"
    assert "布控指令" in client.get(url).text


def test_release_is_refused_while_the_inspection_is_open(client, pages, world):
    case = filed(client, world)
    api(client, world, "0916", "POST", f"/declarations/{case['customs']}/accept")
    api(client, world, "0916", "POST", f"/declarations/{case['customs']}/decision",
        {"inspect": True, "containers": [case["container"]], "kind": "machine_scan"}, 201)
    pages.sign_in(client, "0916")
    refused = post(client, f"/customs/declarations/{case['customs']}/release")
    assert refused.status_code == 409 and 'id="action-error" data-form="release"' in refused.text


def test_a_viewer_reads_the_workbench_but_has_no_forms(client, pages, world):
    case = filed(client, world)
    pages.add_user("0916", "reader", "viewer")
    pages.sign_in(client, "0916", "reader")
    page = client.get(f"/customs/declarations/{case['customs']}")
    assert page.status_code == 200 and 'id="accept-form"' not in page.text
    assert post(client, f"/customs/declarations/{case['customs']}/accept").status_code == 404


def inspected(client, world, case, agencies=("customs", "ciq")) -> str:
    """Both declarations accepted, ``agencies`` decide to inspect, the container moved and the inspection booked."""
    for agency in ("customs", "ciq"):
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/accept")
        body = ({"inspect": True, "containers": [case["container"]], "kind": "physical"} if agency in agencies
                else {"inspect": False})
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/decision", body, 201)
    [task] = api(client, world, "DCT", "GET", "/terminal/tasks")
    api(client, world, "DCT", "POST", f"/terminal/tasks/{task['id']}/complete", {"location": "查验区 B3"})
    api(client, world, ENTERPRISE, "POST", f"/inspections/{task['inspection_id']}/appointment",
        {"at": "2026-03-02T14:00:00+08:00"})
    return task["inspection_id"]


def test_check_in_and_results_on_todays_inspections(client, pages, world):
    case = filed(client, world)
    inspection = inspected(client, world, case)
    pages.sign_in(client, "0916")
    day = client.get("/customs/inspections")
    today = day.text.split('id="waiting"')[0]
    assert inspection in today and "查验区 B3" in today and "check-in" in today
    assert post(client, f"/customs/inspections/{inspection}/check-in").status_code == 303
    missing = post(client, f"/customs/inspections/{inspection}/results", outcome="nonconforming", findings="标签不符")
    assert missing.status_code == 422 and "不合格结果须填写处置意见" in missing.text
    assert "标签不符" in missing.text  # what was typed is kept
    done = post(client, f"/customs/inspections/{inspection}/results", outcome="nonconforming",
                findings="标签不符", disposal="整改后放行")
    assert done.status_code == 303
    shown = api(client, world, "0916", "GET", f"/inspections/{inspection}")
    [customs] = [r for r in shown["results"] if r["agency"] == "customs"]
    assert customs["outcome"] == "nonconforming" and customs["disposal"] == "整改后放行"
    assert "整改后放行" in client.get("/customs/inspections").text


def absent_ciq(client, world, run, clock, case) -> str:
    """Customs checks in alone; past the grace the scheduler records CIQ absent; customs finds conforming."""
    from onewindow.inspections.attendance import run_due

    inspection = inspected(client, world, case)
    api(client, world, "0916", "POST", f"/inspections/{inspection}/check-in")
    clock.advance(hours=6)
    assert run(run_due) == 1
    api(client, world, "0916", "POST", f"/inspections/{inspection}/results", {"outcome": "conforming"})
    return inspection


def test_an_absent_agency_adopts_the_shared_results(client, pages, world, run, clock):
    case = filed(client, world)
    inspection = absent_ciq(client, world, run, clock, case)
    pages.sign_in(client, "210600")
    late = post(client, f"/ciq/inspections/{inspection}/check-in")
    assert late.status_code == 409 and 'id="inspection-error"' in late.text
    page = client.get("/ciq/inspections")
    assert 'class="adopt-form"' in page.text and 'class="reinspect-form"' in page.text
    assert post(client, f"/ciq/inspections/{inspection}/adopt").status_code == 303
    assert 'class="adopt-form"' not in client.get("/ciq/inspections").text
    assert post(client, f"/ciq/declarations/{case['ciq']}/release").status_code == 303


def test_an_absent_agency_may_ask_a_reinspection(client, pages, world, run, clock):
    case = filed(client, world)
    inspection = absent_ciq(client, world, run, clock, case)
    pages.sign_in(client, "210600")
    assert post(client, f"/ciq/inspections/{inspection}/reinspect").status_code == 303
    tasks = api(client, world, "DCT", "GET", "/terminal/tasks?status=open")
    assert len(tasks) == 1 and tasks[0]["inspection_id"] != inspection
    page = client.get("/ciq/inspections").text
    assert tasks[0]["inspection_id"] in page.split('id="waiting"')[1]
    assert 'class="reinspect-form"' not in page and "已申请单独查验" in page  # settled: its own inspection


def test_the_other_agency_reads_the_notice_of_an_amendment(client, pages, world):
    case = filed(client, world)
    api(client, world, ENTERPRISE, "POST", f"/declarations/{case['customs']}/amendments",
        {"changes": {"packages": 41}, "reason": "多报一件 one more package"}, 201)
    pages.sign_in(client, "210600")
    page = client.get(f"/ciq/declarations/{case['ciq']}")
    notices = page.text.split('id="notices"')[1].split("</section>")[0]
    assert "多报一件 one more package" in notices and "packages" in notices and "海关" in notices
    assert "notice-badge" in client.get("/ciq/declarations").text
    client.cookies.clear()
    pages.sign_in(client, "0916")  # the amended declaration itself has no notice
    assert "多报一件" not in client.get(f"/customs/declarations/{case['customs']}").text.split('id="notices"')[1]


@pytest.mark.parametrize("code", ["210600", "0900", "DCT", ENTERPRISE])
def test_nobody_else_acts_on_a_customs_declaration(client, pages, world, code):
    case = filed(client, world)
    pages.sign_in(client, code)
    for action, data in (("accept", {}), ("reject", {"reason": "x"}), ("decision", {"inspect": "no"}),
                         ("release", {}), ("revoke", {"reason": "x"})):
        answer = post(client, f"/customs/declarations/{case['customs']}/{action}", **data)
        assert answer.status_code == 404, (code, action, answer.status_code)
    assert api(client, world, "0916", "GET", f"/declarations/{case['customs']}")["status"] == "submitted"


def test_a_decision_alone_is_matched_when_the_window_passes(client, pages, world, run, clock, settings):
    from onewindow.inspections.service import run_due

    case = filed(client, world)
    for agency in ("customs", "ciq"):
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/accept")
    pages.sign_in(client, "0916")
    url = f"/customs/declarations/{case['customs']}"
    post(client, f"{url}/decision", inspect="yes", containers=case["container"], kind="machine_scan")
    assert 'id="decision" data-inspect="yes"' in client.get(url).text
    assert 'article class="inspection"' not in client.get("/customs/inspections").text  # CIQ has not decided
    clock.advance(seconds=settings.match_window_seconds + 1)
    assert run(run_due) == 1
    waiting = client.get("/customs/inspections").text.split('id="waiting"')[1]
    assert case["container"] in waiting and "awaiting_relocation" in waiting
    [inspection] = api(client, world, "0916", "GET", f"/inspections?filing={case['filing']}")
    assert not inspection["joint"] and inspection["agencies"] == ["customs"]


def test_a_refused_result_names_each_field_it_refuses(client, pages, world):
    case = filed(client, world)
    inspection = inspected(client, world, case)
    pages.sign_in(client, "0916")
    client.cookies.set("ow_lang", "en")
    assert post(client, f"/customs/inspections/{inspection}/check-in").status_code == 303
    long = post(client, f"/customs/inspections/{inspection}/results", outcome="conforming", findings="x" * 3000)
    assert long.status_code == 422
    card = long.text.split(f'id="inspection-{inspection}"')[1].split("</article>")[0]
    findings = card.split('name="findings"')[1].split("</label>")[0]
    assert 'class="field-error"' in findings and "must be text of at most 2000 characters" in findings
    assert "1 field is invalid" in card


def test_a_refusal_for_an_inspection_no_longer_listed_is_said_at_the_top(client, pages, world, clock):
    case = filed(client, world)
    inspection = inspected(client, world, case, agencies=("customs",))
    api(client, world, "0916", "POST", f"/inspections/{inspection}/check-in")
    api(client, world, "0916", "POST", f"/inspections/{inspection}/results", {"outcome": "conforming"})
    clock.advance(days=2)  # completed two days ago: no longer among the day's inspections
    pages.sign_in(client, "0916")
    client.cookies.set("ow_lang", "en")
    again = post(client, f"/customs/inspections/{inspection}/results", outcome="conforming")
    assert again.status_code == 409 and f'id="inspection-{inspection}"' not in again.text
    assert 'id="inspections-error"' in again.text and "your office has already recorded its result" in again.text


def test_a_declaration_page_names_the_documents_in_the_reader_s_language(client, pages, world):
    case = filed(client, world)
    pages.sign_in(client, "0916")
    client.cookies.set("ow_lang", "zh")
    page = client.get(f"/customs/declarations/{case['customs']}").text
    assert re.search(r"发票 INV-\d+, 装箱单 PL-\d+", page), page
    client.cookies.set("ow_lang", "en")
    english = client.get(f"/customs/declarations/{case['customs']}").text
    assert re.search(r"Invoice INV-\d+, Packing list PL-\d+", english)
