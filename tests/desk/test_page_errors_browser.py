"""An htmx request whose target is gone shows the error in a real browser (Chromium through
Playwright, against `raccordo serve`; fixtures from test_desktop_browser): htmx swaps no 4xx into
its own target, so the page kernel aims the error at the page's error region and desktop.js
swaps it there."""

from __future__ import annotations

from tests.support.desktop import open_desktop


def test_an_htmx_action_on_a_deleted_row_shows_a_visible_error(browser, desk):
    page = open_desktop(browser, desk, f"owner@{desk.slug}.it", "/admin/skills")
    main_before = page.inner_html("#main")
    assert page.locator("#page-error").inner_text() == ""
    missing = 2**40
    page.evaluate(f"htmx.ajax('POST', '/admin/skills/{missing}/delete', {{target: '#main', swap: 'innerHTML'}})")
    error = page.locator("#page-error [role=alert]")
    error.wait_for(timeout=10000)
    assert str(missing) in error.inner_text() and error.is_visible()
    assert page.inner_html("#main") == main_before  # the page the admin was on stays
    # The admin carries on: the next page starts without it.
    page.fill("#f-name", "spagnolo")
    page.click("form.admin-form button[type=submit]")
    page.wait_for_url("**/admin/skills?saved=1")
    assert page.locator("#page-error").inner_text() == ""
    unexpected = [e for e in page.errors if f"/admin/skills/{missing}/delete" not in e]  # type: ignore[attr-defined]  (the browser logs the 404 itself)
    assert not unexpected, unexpected
    page.context.close()
