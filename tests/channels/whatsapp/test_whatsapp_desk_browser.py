"""An agent answers a WhatsApp customer from the desk in a real browser (Chromium against `raccordo serve`,
its worker sending to the provider sandbox): the reply shows delivered, then read once the customer reads
it on the sandbox phone; outside the 24-hour window the composer switches to the template picker, and the
template goes out. Screenshots: whatsapp-*.png in the desk fixture's directory."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import httpx
import pytest

from raccordo.sandbox import server
from tests.a11y import assert_accessible
from tests.channels.whatsapp.helpers import new_number
from tests.channels.whatsapp.payloads import WABA_ID
from tests.support.desktop import open_desktop
from tests.support.mail import wait_for


@pytest.fixture(scope="module")
def sandbox() -> Iterator[server.Running]:
    running = server.start()
    yield running
    running.stop()


def _whatsapp_inbox(desk, sandbox) -> tuple[dict, str]:
    number = new_number()
    secrets = {"access_token": f"EAAG{uuid.uuid4().hex}", "app_secret": uuid.uuid4().hex}
    created = desk.api(
        "POST",
        "/api/v1/inboxes",
        json={
            "name": "WhatsApp negozio",
            "channel": "whatsapp",
            "settings": {"phone_number_id": number, "waba_id": WABA_ID, "graph_base_url": f"{sandbox.url}/v21.0"},
            "secrets": secrets,
        },
    )
    assert created.status_code == 201, created.text
    inbox = created.json()
    registered = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers",
        json={
            "phone_number_id": number,
            "waba_id": WABA_ID,
            **secrets,
            "webhook_url": f"{desk.base}/api/v1/channels/whatsapp/{inbox['identifier']}/messages",
            "auto_statuses": ["sent", "delivered"],
            "status_delay": 0.2,
        },
    )
    assert registered.status_code == 200, registered.text
    return inbox, f"{sandbox.url}/_sandbox/whatsapp/numbers/{number}"


def _thread_status(page, text: str, status: str) -> None:
    page.locator(f"#thread li.message.outbound:has-text('{text}') .delivery-{status}").wait_for(timeout=20000)


def test_an_agent_answers_on_whatsapp_sees_read_and_sends_a_template_outside_the_window(browser, desk, sandbox):
    inbox, control = _whatsapp_inbox(desk, sandbox)
    wa_id = f"39347{uuid.uuid4().int % 10**7:07d}"
    wrote = httpx.post(
        f"{control}/customers/{wa_id}/messages",
        json={"name": "Giulia Bianchi", "type": "text", "text": "Buongiorno, a che punto è il mio ordine?"},
        timeout=30,
    )
    assert wrote.status_code == 200 and wrote.json()["deliveries"][0]["status"] == 200, wrote.text
    (conversation,) = desk.api("GET", "/api/v1/conversations", params={"inbox_id": inbox["id"]}).json()["items"]
    conversation_id = conversation["id"]
    # The worker syncs the number's templates by itself (the picker lists the approved ones).
    wait_for(
        lambda: bool(desk.api("GET", f"/api/v1/inboxes/{inbox['id']}").json()["settings"].get("templates")),
        what="the template sync",
    )

    owner = open_desktop(browser, desk, f"owner@{desk.slug}.it", f"/conversations/{conversation_id}")
    # The window is open: free text, a template only if the agent asks for one.
    assert not owner.locator("#channel-templates-use").is_checked() and owner.locator("#reply-text").is_visible()
    owner.fill("#reply-text", "Arriva domani mattina.")
    owner.click("button[data-action=reply]")
    _thread_status(owner, "Arriva domani mattina.", "delivered")
    # The customer reads it on the sandbox phone: the read receipt reaches the desk.
    read = httpx.post(f"{control}/phone/{wa_id}/read", timeout=30)
    assert read.status_code == 200 and read.json()["read"], read.text
    _thread_status(owner, "Arriva domani mattina.", "read")
    owner.screenshot(path=str(desk.shots / "whatsapp-read.png"))

    # A day later: the customer's window closed (on our record and at Meta).
    database = sqlite3.connect(desk.shots / "raccordo.db")
    with database:
        database.execute(
            "UPDATE messages SET created_at = datetime(created_at, '-25 hours') "
            "WHERE conversation_id = ? AND direction = 'inbound'",
            (conversation_id,),
        )
    database.close()
    httpx.post(f"{control}/control", json={"window_age": {wa_id: 25 * 3600}})
    owner.reload()
    owner.wait_for_selector("body[data-ws=open]", timeout=10000)
    # WhatsApp is now template-only: an inbox that still takes free text (the desk's API inbox) ranks first
    # (channels/domain/reach.py); the agent answers on WhatsApp and the composer switches to its templates.
    whatsapp = owner.locator(f"#reply-inbox option[value='{inbox['id']}']")
    assert whatsapp.get_attribute("data-availability") == "template_only" and whatsapp.is_enabled()
    owner.select_option("#reply-inbox", str(inbox["id"]))
    picker = owner.locator("#channel-templates")
    picker.wait_for(state="visible", timeout=10000)
    assert (
        owner.locator("#channel-templates-use").is_checked() and owner.locator("#channel-templates-use").is_disabled()
    )
    assert owner.locator("#reply-text").is_hidden()
    assert "finestra" in owner.locator("#channel-templates-why").inner_text()
    owner.locator("#channel-template-choice option", has_text="ripresa_contatto").wait_for(state="attached")
    owner.select_option("#channel-template-choice", label="ripresa_contatto (it)")
    send = owner.locator("button[data-action=reply]")
    assert send.is_disabled()  # the variables are still empty
    owner.fill("#channel-template-var-1", "Giulia")
    owner.fill("#channel-template-var-2", "R-12")
    preview = "Buongiorno Giulia, riprendiamo la sua richiesta R-12?"
    assert owner.locator("#channel-template-preview").inner_text() == preview
    assert send.is_enabled()
    owner.screenshot(path=str(desk.shots / "whatsapp-template-picker.png"))
    assert_accessible(owner, "composer with the WhatsApp template picker (it)", include="#composer")
    send.click()
    _thread_status(owner, preview, "delivered")
    sent = httpx.get(f"{control}/sent").json()["data"]
    assert sent[-1]["payload"]["type"] == "template" and sent[-1]["to"] == wa_id
    assert owner.errors == []
