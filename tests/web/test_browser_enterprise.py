"""In a real browser, in Chinese and in English: an enterprise enters a consignment once (rows added and
removed in place, a code looked up, an inline error corrected), files both parts, books the joint inspection
and follows the consignment to gate-out on its timeline. Screenshots are kept under var/screenshots/."""

from __future__ import annotations

import pytest

from onewindow.samples import sample_entry
from onewindow.web.entry import form_from_data

ENT = "91210200MA0QK1P3AF"
TEXT = {
    "zh": {"new": "新建录入", "staged": "已录入并暂存", "filed": "已申报待受理", "booked": "已预约查验",
           "gated": "集装箱已提离", "error_banner": "未保存", "check_digit": "校验码", "at": "2026-03-02 15:00 CST"},
    "en": {"new": "New entry", "staged": "Entered and staged", "filed": "submitted", "booked":
           "Inspection appointment booked", "gated": "Container left the port", "error_banner": "not saved",
           "check_digit": "check digit", "at": "2 Mar 2026 15:00 CST"},
}


def _field(page, name: str):
    return page.locator(f'[name="{name}"]')


def fill_entry(page, entry: dict) -> None:
    """Type the entry into the form, adding rows with the form's own buttons (rows keep their on-page index)."""
    values = form_from_data(entry).values
    on_page = {}
    for group in ("containers", "items", "documents"):
        rows = page.locator(f'fieldset[data-group="{group}"]')
        while rows.count() < len(entry.get(group, [])):
            before = rows.count()
            page.click(f"#add-{group}")
            page.wait_for_function(f"document.querySelectorAll('fieldset[data-group={group}]').length > {before}")
        on_page[group] = [int(i.rsplit("-", 1)[1]) for i in rows.evaluate_all("fs => fs.map(f => f.id)")]
    for name, value in values.items():
        parts = name.split(".")
        if parts[0] in on_page:
            parts[1] = str(on_page[parts[0]][int(parts[1])])
        field = _field(page, ".".join(parts))
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_an_enterprise_follows_a_consignment_from_entry_to_gate_out(browser, pages, port, shots, clock, language):
    text = TEXT[language]
    entry = sample_entry(seed=21, containers=1, items=2)
    number = entry["containers"][0]["number"]
    port.arrive(entry)

    browser.goto("/login")
    browser.fill("input[name=organisation]", ENT)
    browser.fill("input[name=user]", "staff")
    browser.fill("input[name=password]", "correct horse battery")
    browser.click("#login-form button[type=submit]")
    browser.wait_for_url("**/enterprise/filings")
    if language == "en":
        browser.select_option("#preferences select[name=language]", "en")
        browser.locator("html[lang=en]").wait_for()
    browser.click(f"text={text['new']}")
    browser.wait_for_url("**/enterprise/filings/new")

    # A row added and removed in place.
    browser.click("#add-containers")
    _field(browser, "containers.1.number").wait_for()
    browser.locator("#row-containers-1 .remove-row").click()
    assert _field(browser, "containers.1.number").count() == 0
    # A code looked up in the real HS table.
    _field(browser, "items.0.hs_code").fill("030389")
    browser.wait_for_function("""() => {
        const codes = [...document.querySelectorAll('#dl-hs option')].map(o => o.value);
        return codes.length > 0 && codes.every(c => c.startsWith('030389'));
    }""")
    shots(browser, f"entry-{language}")

    misspelt = number[:-1] + str((int(number[-1]) + 1) % 10)  # the ISO 6346 check digit no longer fits
    wrong = dict(entry, containers=[{**entry["containers"][0], "number": misspelt}])
    fill_entry(browser, wrong)
    browser.click("#save-entry")
    error = browser.locator('[data-field="containers.0.number"]')
    error.wait_for()
    assert text["check_digit"] in error.inner_text()  # in the reader's language
    assert text["error_banner"] in browser.locator("#entry-errors").inner_text()
    assert _field(browser, "items.1.name").input_value() == entry["items"][1]["name"]  # nothing typed is lost
    shots(browser, f"entry-error-{language}")

    _field(browser, "containers.0.number").fill(number)
    browser.click("#save-entry")
    browser.wait_for_url("**/enterprise/filings/*?created=1")
    assert text["staged"] in browser.locator("#timeline").inner_text()
    shots(browser, f"staged-{language}")

    clock.advance(minutes=20)
    browser.click("#file-button")
    browser.wait_for_url("**?filed=*")
    assert browser.locator("#declarations").inner_text().count(text["filed"]) == 2
    filing_id = browser.url.split("/enterprise/filings/")[1].split("?")[0]

    clock.advance(minutes=35)
    port.accept_all(filing_id)
    clock.advance(minutes=50)
    inspection_id = port.inspect_jointly(filing_id, number)
    browser.reload()
    browser.fill("form.booking input[name=at]", "2026-03-02T15:00")
    browser.click("form.booking button[type=submit]")
    browser.wait_for_url("**?booked=1")
    assert text["at"] in browser.locator(".appointment").inner_text()
    assert text["booked"] in browser.locator("#timeline").inner_text()
    shots(browser, f"booked-{language}")

    clock.advance(hours=4)
    port.inspect_and_release(inspection_id, filing_id, number)
    browser.reload()
    assert text["gated"] in browser.locator("#timeline").inner_text()
    assert "confidential" not in browser.content()
    shots(browser, f"gated-out-{language}")

    browser.set_viewport_size({"width": 768, "height": 1024})  # a tablet
    browser.goto("/enterprise/filings")
    assert browser.locator("#filings").is_visible()
    shots(browser, f"list-tablet-{language}")
