"""An agent answering an SMS customer in a real browser (Chromium against `raccordo serve`) sees the
encoding and the segment count change while typing: GSM-7 for plain Italian, two segments past 160
characters, Unicode as soon as an emoji is typed, and the send button disabled past the inbox's
maximum of segments. Screenshot: composer-sms-*.png in the desk fixture's directory."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from tests.support.desktop import open_desktop
from tests.support.mail import wait_for


def _sms_inbox(desk) -> tuple[dict, str]:
    token = secrets.token_hex(16)
    settings = {
        "provider": "twilio",
        "sender": "+390200000099",
        "twilio_account_sid": "AC" + secrets.token_hex(16),
        "max_segments": 3,
    }
    answer = desk.api(
        "POST",
        "/api/v1/inboxes",
        json={"name": "SMS negozio", "channel": "sms", "settings": settings, "secrets": {"twilio_auth_token": token}},
    )
    assert answer.status_code == 201, answer.text
    return answer.json(), token


def _customer_texts(desk, inbox: dict, token: str, number: str, text: str) -> None:
    url = f"{desk.base}/api/v1/channels/sms/{inbox['identifier']}/messages"
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "AccountSid": inbox["settings"]["twilio_account_sid"], "From": number}
    params.update({"To": inbox["settings"]["sender"], "Body": text, "NumMedia": "0", "SmsStatus": "received"})
    signature = RequestValidator(token).compute_signature(url, params)
    answer = httpx.post(
        url,
        content=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_sms_reply_shows_encoding_and_segments_live(browser, desk):
    inbox, token = _sms_inbox(desk)
    number = f"+39347{uuid.uuid4().int % 10**7:07d}"
    _customer_texts(desk, inbox, token, number, "Salve, il pacco è arrivato rotto")

    def conversation() -> dict | None:
        items = desk.api("GET", "/api/v1/conversations", params={"status": "open"}).json()["items"]
        return next((c for c in items if c["last_channel"] == "sms"), None)

    found = wait_for(conversation, what="the SMS conversation")
    page = open_desktop(browser, desk, f"owner@{desk.slug}.it", f"/conversations/{found['id']}")
    page.select_option("#reply-inbox", str(inbox["id"]))
    counter = page.locator("#composer-counter")
    page.fill("#reply-text", "Ci scusi, è già in viaggio")
    assert "GSM-7 · 1 SMS" in counter.inner_text()
    assert counter.get_attribute("data-sms-encoding") == "gsm7"
    page.fill("#reply-text", "a" * 161)
    assert "GSM-7 · 2 SMS" in counter.inner_text()
    # One emoji typed at the end: the whole message becomes UCS-2, 67 characters a part.
    page.locator("#reply-text").press("End")
    page.keyboard.type("🙂")
    assert "Unicode · 3 SMS" in counter.inner_text()
    assert counter.get_attribute("data-sms-encoding") == "ucs2"
    assert page.locator("button[data-action=reply]").is_enabled()
    page.keyboard.type("x" * 40)  # 203 UTF-16 units: 4 parts, the inbox allows 3
    assert "Unicode · 4 SMS" in counter.inner_text()
    assert page.locator("button[data-action=reply]").is_disabled()
    assert "3" in page.locator("#send-reason").inner_text()
    page.screenshot(path=str(desk.shots / "composer-sms-segments.png"))
    page.fill("#reply-text", "Grazie, a presto")
    assert "GSM-7 · 1 SMS" in counter.inner_text() and page.locator("button[data-action=reply]").is_enabled()
    assert not page.errors, page.errors
