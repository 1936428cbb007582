"""Reaching the customer and never losing a reply, in a real browser (Chromium against `raccordo serve`):
the composer defaults to the inbox the customer wrote on and says why another is unavailable; a reply
the provider refuses (500, Retry-After an hour) shows a banner at the top of the conversation, whose
"Send on another channel" fills the composer and whose "Retry" delivers it once the provider is back,
and the banner goes; a send that fails (server error, network drop) says so at the composer and keeps
the text. Screenshots: reach-*.png in the desk fixture's directory."""

from __future__ import annotations

import uuid

import pytest

from tests.a11y import assert_accessible
from tests.helpers import CallbackServer
from tests.support.desktop import open_desktop


@pytest.fixture(scope="module")
def provider():
    server = CallbackServer()
    yield server
    server.close()


def _inbox(desk, name, settings):
    created = desk.api("POST", "/api/v1/inboxes", json={"name": name, "channel": "api", "settings": settings})
    assert created.status_code == 201, created.text
    return created.json()


def test_composer_reaches_the_customer_and_a_failed_delivery_is_retried(browser, desk, provider):
    own = _inbox(desk, "Canale cliente", {"callback_url": provider.url})
    mute = _inbox(desk, "Import storico", {})  # no callback: it cannot deliver
    desk.inboxes.append(own)
    customer = f"marta.{uuid.uuid4().hex[:6]}@example.com"
    desk.customer_says("Il mio ordine non è arrivato", customer, inbox=len(desk.inboxes) - 1)
    conversation_id = desk.api("GET", "/api/v1/conversations", params={"inbox_id": own["id"]}).json()["items"][0]["id"]

    page = open_desktop(browser, desk, f"anna@{desk.slug}.it", f"/conversations/{conversation_id}")
    # The default is the inbox the customer wrote on; the one without delivery is listed, disabled, with why.
    assert page.input_value("#reply-inbox") == str(own["id"])
    mute_option = page.locator(f"#reply-inbox option[value='{mute['id']}']")
    assert mute_option.is_disabled() and "has no way to send" in mute_option.inner_text()
    page.click("#reach-why summary")
    why = page.locator(f"#reach-why li[data-inbox-id='{mute['id']}']")
    assert why.is_visible() and "Import storico" in why.inner_text() and "has no way to send" in why.inner_text()
    page.screenshot(path=str(desk.shots / "reach-composer.png"))
    assert_accessible(page, "composer with an unavailable inbox (en)", include="#composer")

    # The provider fails (500, come back in an hour): the banner says so at the top of the conversation.
    provider.status, provider.extra_headers = 500, {"Retry-After": "3600"}
    page.fill("#reply-text", "Arriva domani entro le 12")
    page.click("button[data-action=reply]")
    banner = page.locator("#delivery-alerts .delivery-alert")
    banner.wait_for(timeout=15000)
    assert "Reply not delivered yet" in banner.inner_text() and "HTTP 500" in banner.inner_text()
    assert "Arriva domani entro le 12" in banner.inner_text()
    page.screenshot(path=str(desk.shots / "reach-delivery-banner.png"))
    assert_accessible(page, "failed delivery banner (en)", include="#delivery-alerts")

    # "Send on another channel": the composer on the next inbox that reaches the customer, text filled in.
    elsewhere = banner.locator("button[data-action=send-elsewhere]")
    target = elsewhere.get_attribute("data-inbox-id")
    assert target and target != str(own["id"])
    elsewhere.click()
    assert page.input_value("#reply-inbox") == target
    assert page.input_value("#reply-text") == "Arriva domani entro le 12"
    page.fill("#reply-text", "")

    # The provider is back; "Retry" sends the same message now (not in an hour) and the banner goes.
    provider.status, provider.extra_headers = 200, {}
    sent_before = len(provider.received)
    banner.locator("button[data-action=retry-delivery]").click()
    page.locator("#delivery-alerts .delivery-alert").wait_for(state="detached", timeout=15000)
    assert len(provider.received) == sent_before + 1
    assert len({hit["headers"]["idempotency-key"] for hit in provider.received}) == 1
    page.locator("#thread .message.outbound .delivery-sent").wait_for(timeout=10000)
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_a_failed_send_is_shown_at_the_composer_and_the_text_is_kept(browser, desk, provider):
    own = next(i for i in desk.inboxes if i["name"] == "Canale cliente")
    customer = f"piero.{uuid.uuid4().hex[:6]}@example.com"
    desk.customer_says("Posso cambiare indirizzo?", customer, inbox=desk.inboxes.index(own))
    conversation_id = next(
        c["id"]
        for c in desk.api("GET", "/api/v1/conversations", params={"inbox_id": own["id"]}).json()["items"]
        if c["id"] != 0
        and desk.api("GET", f"/api/v1/contacts/{c['contact_id']}").json()["identities"][0]["value"] == customer
    )
    page = open_desktop(browser, desk, f"anna@{desk.slug}.it", f"/conversations/{conversation_id}")
    reply_url = f"**/conversations/{conversation_id}/reply"
    failure = page.locator("#composer-failure")

    # The server answers 500: said at the composer, the text stays.
    page.route(reply_url, lambda route: route.fulfill(status=500, body="Internal Server Error"))
    page.fill("#reply-text", "Certo, mi dia il nuovo indirizzo")
    page.click("button[data-action=reply]")
    failure.wait_for(state="visible", timeout=10000)
    assert "server answered with an error (500)" in failure.inner_text()
    assert page.input_value("#reply-text") == "Certo, mi dia il nuovo indirizzo"
    page.unroute(reply_url)

    # The network drops: said the same way.
    page.route(reply_url, lambda route: route.abort())
    page.click("#composer-failure button[data-action=composer-retry]")
    page.wait_for_function(
        "() => !document.getElementById('composer-failure').hidden"
        " && document.querySelector('#composer-failure p').textContent.includes('connection')",
        timeout=10000,
    )
    assert page.input_value("#reply-text") == "Certo, mi dia il nuovo indirizzo"
    page.screenshot(path=str(desk.shots / "reach-composer-failure.png"))
    page.unroute(reply_url)

    # Back online: "Try again" sends it; the composer is fresh and the reply is in the thread.
    page.click("#composer-failure button[data-action=composer-retry]")
    page.locator("#thread .message.outbound", has_text="Certo, mi dia il nuovo indirizzo").wait_for(timeout=10000)
    assert page.input_value("#reply-text") == ""
    assert page.locator("#composer-failure").is_hidden()
    # The browser and htmx log the failed requests themselves (htmx:responseError, htmx:sendError...).
    expected = ("/reply", "500", "htmx:afterRequest", "htmx:responseError", "htmx:sendError")
    unexpected = [e for e in page.errors if not any(mark in e for mark in expected)]  # type: ignore[attr-defined]
    assert not unexpected, unexpected
    page.context.close()
