"""The whole life of a consignment through the pages, in a real browser, in Chinese and in English.

The terminal records the discharge; the enterprise enters the consignment (a wrong container check
digit first, named on the form), stages and files it; customs and CIQ accept and both decide to
inspect the same container (a joint inspection, matched at once); the terminal moves it; the
enterprise books the inspection; both agencies check in and record their results; customs
releases; the gate refuses the container while CIQ is pending; CIQ releases; the gate lets it out.
A screenshot is kept at each step (var/screenshots/<test>/).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from onewindow.samples import sample_entry
from tests.web.conftest import PASSWORD

ENTERPRISE = "91210200MA0QK1P3AF"
CHINA = ZoneInfo("Asia/Shanghai")
CIQ_LABEL = {"zh": "检验检疫", "en": "Inspection & Quarantine"}


def sign_in(b, code: str) -> None:
    b.goto("/login")
    b.fill("input[name=organisation]", code)
    b.fill("input[name=user]", "staff")
    b.fill("input[name=password]", PASSWORD)
    b.click("#login-form button[type=submit]")
    b.wait_for_load_state()
    assert "/login" not in b.url, b.locator("main").inner_text()


def submit(b, selector: str) -> None:
    """Click a submit button and wait for the next page."""
    with b.expect_navigation():
        b.click(selector)


FIELDS = ("trade_mode", "transport_mode", "transaction_mode", "customs_office", "ciq_office", "port",
          "consignee.uscc", "consignee.name", "overseas_party.name", "overseas_party.country", "conveyance.name",
          "conveyance.voyage", "bill_of_lading", "trade_country", "departure_country", "currency", "packages",
          "package_type", "gross_weight_kg", "net_weight_kg")


def flat(entry: dict, path: str) -> str:
    value = entry
    for part in path.split("."):
        value = value[part]
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def fill_entry(b, entry: dict, container: str) -> None:
    for name in FIELDS:
        b.fill(f'[name="{name}"]', flat(entry, name))
    b.fill('[name="containers.0.number"]', container)
    b.fill('[name="containers.0.size_type"]', entry["containers"][0]["size_type"])
    for key in ("hs_code", "name", "quantity", "unit", "unit_price", "total_price", "origin_country"):
        b.fill(f'[name="items.0.{key}"]', flat(entry["items"][0], key))


def agency_accepts_and_decides(b, shots, code: str, agency: str, container: str, kind: str, reason: str) -> str:
    """The office opens the declaration from its queue, accepts it and decides to inspect ``container``."""
    sign_in(b, code)
    b.goto(f"/{agency}/declarations")
    assert b.locator("a[data-status=submitted][aria-current=page]").count() == 1
    shots(b, f"{agency}-queue")
    with b.expect_navigation():
        b.locator("a.open-declaration").first.click()
    declaration_url = b.url.split("?")[0]
    submit(b, "#accept-button")
    assert b.locator("#flash").get_attribute("data-done") == "accepted"
    assert b.locator("#declaration-status").get_attribute("data-status") == "accepted"
    shots(b, f"{agency}-accepted")
    b.check("#inspect-yes")
    b.check(f"#decision-containers input[value={container}]")
    b.select_option("#decision-kind", kind)
    b.fill("#decision-form textarea[name=reason]", reason)
    submit(b, "#decide-button")
    assert b.locator("#decision").get_attribute("data-inspect") == "yes"
    assert reason in b.locator("#decision").inner_text()
    shots(b, f"{agency}-decided")
    return declaration_url


def check_in_and_result(b, shots, code: str, agency: str, findings: str) -> None:
    sign_in(b, code)
    b.goto(f"/{agency}/inspections")
    card = b.locator("#today article.inspection")
    assert card.count() == 1
    submit(b, "#today .check-in-button")
    b.check("#today .result-form input[value=conforming]")
    b.fill("#today .result-form textarea[name=findings]", findings)
    submit(b, "#today .result-button")
    assert findings in b.locator(f"#today tr[data-agency={agency}]").inner_text()
    shots(b, f"{agency}-result")


def release(b, shots, code: str, agency: str, declaration_url: str) -> None:
    sign_in(b, code)
    b.goto(declaration_url)
    submit(b, "#release-button")
    assert b.locator("#declaration-status").get_attribute("data-status") == "released"
    shots(b, f"{agency}-released")


def ask_gate(b, container: str) -> str:
    b.goto("/terminal/gate")
    b.fill("#gate-container", container.lower())
    submit(b, "#gate-ask")
    return b.locator("#gate-answer").get_attribute("data-state")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_whole_life_of_a_consignment_through_the_pages(browser, pages, shots, clock, language):
    b = browser
    entry = sample_entry(seed=2026, containers=1, items=1)
    container = entry["containers"][0]["number"]
    b.goto("/login")
    with b.expect_navigation():
        b.select_option("#preferences select[name=language]", language)
    assert b.locator("html").get_attribute("lang") == ("zh-CN" if language == "zh" else "en")

    # The vessel is discharged: the terminal records the container.
    sign_in(b, "DCT")
    b.goto("/terminal/arrivals")
    b.fill("#f-containers", container)
    b.fill("#f-vessel", entry["conveyance"]["name"])
    b.fill("#f-voyage", entry["conveyance"]["voyage"])
    submit(b, "#arrival-button")
    assert b.locator(f"#yard tr[data-container={container}]").count() == 1
    shots(b, "terminal-arrival")
    clock.advance(minutes=30)

    # The enterprise enters once: a wrong check digit is named on the form, then corrected; it files.
    sign_in(b, ENTERPRISE)
    b.goto("/enterprise/filings/new")
    wrong = container[:-1] + str((int(container[-1]) + 1) % 10)
    fill_entry(b, entry, wrong)
    submit(b, "#save-entry")
    error = b.locator('[id="e-containers.0.number"]')
    assert b.locator("#entry-errors").is_visible() and "ISO 6346" in error.inner_text()
    shots(b, "entry-inline-error")
    b.fill('[name="containers.0.number"]', container)
    submit(b, "#save-entry")
    consignment_url = b.url.split("?")[0]
    assert "/enterprise/filings/" in consignment_url
    shots(b, "entry-staged")
    submit(b, "#file-button")
    assert [s.get_attribute("class") for s in b.locator("#declarations .badge").all()] == ["badge submitted"] * 2
    shots(b, "filed")
    clock.advance(minutes=20)

    # Both agencies accept and decide to inspect the same container: matched at once, jointly.
    customs_url = agency_accepts_and_decides(b, shots, "0916", "customs", container, "physical", "风险规则 R-17")
    clock.advance(minutes=10)
    ciq_url = agency_accepts_and_decides(b, shots, "210600", "ciq", container, "quarantine_treatment", "疫区来源")
    b.goto("/ciq/inspections")
    joint = b.locator("#waiting article.inspection")
    assert joint.count() == 1 and joint.get_attribute("data-status") == "awaiting_relocation"
    assert container in joint.locator(".containers").inner_text()
    assert joint.locator("tr[data-agency]").count() == 2  # customs and CIQ: one opening of the container
    shots(b, "ciq-joint-inspection")
    clock.advance(minutes=40)

    # The terminal moves the container to the inspection site.
    sign_in(b, "DCT")
    b.goto("/terminal/tasks")
    b.fill("#open-tasks input[name=location]", "查验区 B3")
    submit(b, "#open-tasks .complete-button")
    assert b.locator("#open-tasks article.task").count() == 0 and "查验区 B3" in b.locator("#done-tasks").inner_text()
    shots(b, "terminal-relocated")

    # The enterprise books the joint inspection for 14:00 today.
    sign_in(b, ENTERPRISE)
    b.goto(consignment_url)
    b.fill(".booking input[name=at]", "2026-03-02T14:00")
    submit(b, ".booking button")
    assert b.locator("#inspections article.inspection").get_attribute("data-status") == "scheduled"
    shots(b, "enterprise-booked")
    clock.set(datetime(2026, 3, 2, 14, 5, tzinfo=CHINA))

    # Both agencies check in and record their results.
    check_in_and_result(b, shots, "0916", "customs", "货证相符")
    check_in_and_result(b, shots, "210600", "ciq", "未发现疫情")
    clock.advance(minutes=45)

    # Customs releases; the gate holds the container for CIQ and refuses to let it out.
    release(b, shots, "0916", "customs", customs_url)
    sign_in(b, "DCT")
    assert ask_gate(b, container) == "held"
    assert b.locator("#gate-answer .pending").inner_text() == CIQ_LABEL[language]
    shots(b, "gate-held")
    submit(b, "#gate-out-button")
    assert b.locator("#gate-answer").get_attribute("data-state") == "refused"
    assert b.locator("#gate-answer .pending").inner_text() == CIQ_LABEL[language]
    shots(b, "gate-out-refused")
    clock.advance(minutes=15)

    # CIQ releases; the gate lets the container out.
    release(b, shots, "210600", "ciq", ciq_url)
    sign_in(b, "DCT")
    assert ask_gate(b, container) == "released"
    shots(b, "gate-released")
    submit(b, "#gate-out-button")
    assert b.locator("#gate-answer").get_attribute("data-state") == "left"
    shots(b, "gate-out")

    # The enterprise sees every step and the container gone.
    sign_in(b, ENTERPRISE)
    b.goto(consignment_url)
    assert container in b.locator("#releases").inner_text()
    assert b.locator("#timeline li[data-type='container.gated_out']").count() == 1
    shots(b, "enterprise-done")
