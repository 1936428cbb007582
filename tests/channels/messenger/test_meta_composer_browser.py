"""The composer says which Messenger window applies (Chromium against `raccordo serve`): a page without the
HUMAN_AGENT tag shows the 24-hour window; a page allowed the tag shows the standard window and the agents'
7-day window after it, in the agent's language."""

from __future__ import annotations

import uuid

import httpx

from tests.channels.messenger.payloads import envelope, event, signed
from tests.support.desktop import open_desktop


def _messenger_conversation(desk, human_agent: bool) -> tuple[int, int]:
    page_id = str(uuid.uuid4().int % 10**15)
    created = desk.api(
        "POST",
        "/api/v1/inboxes",
        json={
            "name": f"Messenger {human_agent}",
            "channel": "messenger",
            "settings": {"page_id": page_id, "human_agent": human_agent},
            "secrets": {"access_token": "EAAG-test", "app_secret": "secret-of-the-app"},
        },
    )
    assert created.status_code == 201, created.text
    inbox = created.json()
    psid = str(uuid.uuid4().int % 10**16)
    payload = envelope("messenger", page_id, event(page_id, psid, message={"mid": f"m_{psid}", "text": "Ciao!"}))
    body, headers = signed("secret-of-the-app", payload)
    url = f"{desk.base}/api/v1/channels/messenger/{inbox['identifier']}/messages"
    answer = httpx.post(url, content=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    conversations = desk.api("GET", "/api/v1/conversations", params={"status": "open"}).json()["items"]
    conversation_id = next(c["id"] for c in conversations if c["last_inbox_id"] == inbox["id"])
    return inbox["id"], conversation_id


def test_the_composer_names_the_window_that_applies(browser, desk):
    for human_agent, expected in (
        (False, "Finestra di messaggistica aperta fino alle"),
        (True, "dopo, solo risposte degli operatori (con il tag per operatori del fornitore) fino alle"),
    ):
        inbox_id, conversation_id = _messenger_conversation(desk, human_agent)
        page = open_desktop(browser, desk, f"owner@{desk.slug}.it", f"/conversations/{conversation_id}")
        page.select_option("#reply-inbox", str(inbox_id))
        banner = page.locator("#composer-window")
        banner.wait_for(timeout=10000)
        assert expected in banner.inner_text()
        if not human_agent:
            assert "operatori" not in banner.inner_text()
        assert not page.errors, page.errors
        page.context.close()
