"""In a real browser: sign in, switch the language, sign out (both databases)."""

from __future__ import annotations

CUSTOMS = "0916"


def test_sign_in_switch_language_and_sign_out(browser, pages, shots):
    browser.goto("/")
    assert browser.url.endswith("/login?next=/")
    assert browser.locator("h1").inner_text() == "登录"
    shots(browser, "login-zh")
    browser.fill("input[name=organisation]", CUSTOMS)
    browser.fill("input[name=user]", "staff")
    browser.fill("input[name=password]", "wrong password")
    browser.click("#login-form button[type=submit]")
    assert browser.locator("#login-error").is_visible()
    browser.fill("input[name=password]", "correct horse battery")
    browser.click("#login-form button[type=submit]")
    browser.wait_for_url("**/customs/declarations")  # an officer lands on the office's queue
    assert "大窑湾海关" in browser.locator("header").inner_text()
    browser.select_option("#preferences select[name=language]", "en")
    browser.wait_for_load_state()
    browser.locator("#logout", has_text="Sign out").wait_for()
    shots(browser, "home-en")
    browser.click("#logout")
    browser.wait_for_url("**/login")
    assert browser.locator("h1").inner_text() == "Sign in"
