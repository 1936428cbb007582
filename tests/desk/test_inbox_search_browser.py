"""The inbox search box in a real browser (Chromium via Playwright, against `raccordo serve`, the
fixtures of tests/desk/test_desktop_browser.py): typing narrows the list live, without a reload, and
shows the matching contact; clearing the box brings the list back. Screenshot:
desktop-inbox-search.png under the pytest tmp dir."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.support.desktop import open_desktop


def test_typing_in_the_search_box_narrows_the_list_live(browser, desk):
    tag = uuid.uuid4().hex[:6]
    desk.customer_says(f"La lavatrice {tag} perde acqua, perché?", f"giulia.{tag}@example.it")
    desk.customer_says(f"Il tostapane {tag} non si accende", f"marco.{tag}@example.com")
    desk.customer_says(f"Fattura {tag} sbagliata", f"luca.{tag}@example.org")
    page = open_desktop(browser, desk, f"owner@{desk.slug}.it", "/inbox?view=all&status=any")
    rows = page.locator("#conversation-list li.row")
    rows.nth(2).wait_for(timeout=15000)
    page.evaluate("window.__sameDocument = true")
    search = page.locator("#inbox-search")
    search.click()
    search.press_sequentially("lavatr", delay=60)  # a prefix, as the agent types it
    expect(rows).to_have_count(1, timeout=15000)
    expect(rows.first).to_contain_text("Giulia")
    # Several words, the last one a prefix: another conversation.
    search.fill("")
    search.press_sequentially(f"fattura {tag} sbagl", delay=60)
    expect(rows.first).to_contain_text("Luca", timeout=15000)
    expect(rows).to_have_count(1)
    # Accents folded: "perche" finds "perché".
    search.fill("")
    search.press_sequentially(f"{tag} perche", delay=60)
    expect(rows.first).to_contain_text("Giulia", timeout=15000)
    expect(rows).to_have_count(1)
    # A contact by email: the contact hit links to their conversation.
    search.fill("")
    search.press_sequentially(f"marco.{tag}@exa", delay=60)
    hit = page.locator("#conversation-list .contact-hit a")
    hit.wait_for(timeout=15000)
    assert "Marco" in hit.inner_text() and "/conversations/" in hit.get_attribute("href")
    page.screenshot(path=str(desk.shots / "desktop-inbox-search.png"))
    assert page.evaluate("window.__sameDocument") is True, "the list must narrow without a reload"
    # Clearing the box brings every conversation back.
    search.fill("")
    search.dispatch_event("input")
    rows.nth(2).wait_for(timeout=15000)
    assert page.locator("#conversation-list .contact-hits").count() == 0
    assert not page.errors, page.errors  # type: ignore[attr-defined]
