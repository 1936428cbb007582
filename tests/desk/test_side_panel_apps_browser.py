"""Side-panel apps in a real browser: an admin adds an app (a loopback echo page, tests/side_panel_echo.html,
served from another origin than the desk), an agent opens a conversation and the app receives the
context by postMessage; switching conversation and a live change send the new context; a message from
another origin is ignored. Screenshots are saved as apps-*.png in the desk's data folder."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from raccordo.desk.domain.side_panel import verify_token
from tests.support.desktop import Desk, open_desktop

ECHO = (Path(__file__).parents[1] / "side_panel_echo.html").read_bytes()
WAIT = 20000


@pytest.fixture(scope="module")
def echo_app() -> Iterator[str]:
    """The echo page on its own loopback server: its base URL (an origin other than the desk's)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(ECHO)))
            self.end_headers()
            self.wfile.write(ECHO)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_app_receives_the_context_and_follows_the_conversation(browser, desk: Desk, echo_app: str):
    from playwright.sync_api import expect

    # Two customers, two conversations.
    tag = uuid.uuid4().hex[:6]
    desk.customer_says("Vorrei sapere dove è il mio ordine", f"primo-{tag}@example.com")
    desk.customer_says("Fattura sbagliata", f"secondo-{tag}@example.com")
    rows = desk.api("GET", "/api/v1/conversations", params={"limit": 50}).json()["items"]
    names = {c["id"]: desk.api("GET", f"/api/v1/contacts/{c['contact_id']}").json()["name"] for c in rows}
    first_name, second_name = f"primo-{tag}".title(), f"secondo-{tag}".title()  # the name customer_says gives
    first = next(i for i, n in names.items() if n == first_name)
    second = next(i for i, n in names.items() if n == second_name)

    # The admin (Italian) adds the app; the page shows its signing secret once.
    admin = open_desktop(browser, desk, f"owner@{desk.slug}.it", "/admin/apps")
    url = f"{echo_app}/echo.html?desk={desk.base}"
    admin.fill("#f-url", "http://crm.example.com/")
    admin.fill("#f-name", "CRM di prova")
    admin.click("form.admin-form button.primary")
    expect(admin.locator("#url-error")).to_contain_text("https://", timeout=WAIT)
    admin.fill("#f-url", url)
    admin.check("input[name=share][value='agent.name']")
    admin.click("form.admin-form button.primary")
    secret = admin.locator("#app-secret").text_content(timeout=WAIT)
    assert secret and len(secret) > 30
    admin.screenshot(path=str(desk.shots / "apps-admin.png"))
    admin.context.close()

    # The agent opens the first conversation: the frame gets its context, posted to its exact origin.
    page = open_desktop(browser, desk, f"anna@{desk.slug}.it", "/inbox?view=unassigned")
    page.click(f"#conversation-list a[href^='/conversations/{first}?']")
    page.wait_for_url(f"**/conversations/{first}?**")
    app = page.frame_locator("iframe[data-side-app]")
    expect(app.locator("#conversation-id")).to_have_text(str(first), timeout=WAIT)
    expect(app.locator("#contact-name")).to_have_text(first_name)
    expect(app.locator("#identities")).to_have_text(f"email:primo-{tag}@example.com")
    expect(app.locator("#agent-id")).to_have_text(str(desk.agent_id))
    claims = verify_token(secret, app.locator("#token").text_content() or "", time.time())
    assert claims and claims["conversation_id"] == first and claims["agent_id"] == desk.agent_id
    frame_src = re.search(
        r"frame-src ([^;]+)",
        page.evaluate("() => fetch(location.href).then(r => r.headers.get('content-security-policy'))"),
    ).group(1)
    assert frame_src.split() == ["'self'", echo_app]
    page.locator("#side-apps").scroll_into_view_if_needed()
    page.screenshot(path=str(desk.shots / "apps-first.png"))

    # Switching conversation sends the new context.
    page.click(f"#conversation-list a[href^='/conversations/{second}?']")
    page.wait_for_url(f"**/conversations/{second}?**")
    app = page.frame_locator("iframe[data-side-app]")
    expect(app.locator("#conversation-id")).to_have_text(str(second), timeout=WAIT)
    expect(app.locator("#contact-name")).to_have_text(second_name)
    expect(app.locator("#status")).to_have_text("open")

    # A change to the open conversation (a live event) sends the context again.
    changed = desk.api("PATCH", f"/api/v1/conversations/{second}", json={"status": "pending"})
    assert changed.status_code == 200, changed.text
    expect(app.locator("#status")).to_have_text("pending", timeout=WAIT)
    page.locator("#side-apps").scroll_into_view_if_needed()
    page.screenshot(path=str(desk.shots / "apps-second.png"))

    # A message that does not come from the app's frame and origin is ignored; the app's own is answered.
    received = int(app.locator("#count").text_content() or "0")
    page.evaluate("() => window.postMessage({type: 'raccordo.ready'}, '*')")
    expect(page.locator("#side-apps")).to_have_attribute("data-ignored", "1", timeout=WAIT)
    assert int(app.locator("#count").text_content() or "0") == received
    app.locator("#ask").click()
    expect(app.locator("#count")).to_have_text(str(received + 1), timeout=WAIT)
    assert page.locator("#side-apps").get_attribute("data-ignored") == "1"
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    page.context.close()
