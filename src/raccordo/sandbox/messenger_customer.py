"""The Messenger/Instagram sandbox's customer side: webhook events shaped like Meta's, signed, retried, duplicated.

Shapes are Meta's documented samples: Messenger ``messages`` (text, attachments, quick_reply),
``messaging_postbacks``, ``message_reactions``, ``message_deliveries`` and ``message_reads``
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events)
and Instagram messaging (story mentions, story replies, ``is_deleted``, ``read.mid``:
https://developers.facebook.com/docs/instagram-platform/webhooks/examples/). Signed with
``X-Hub-Signature-256`` like every Graph webhook
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads);
a delivery not answered 2xx is retried ``meta_webhook.RETRIES`` times, quickly, so tests see the retry.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from raccordo.sandbox.messenger_state import Page
from raccordo.sandbox.meta_webhook import post_signed


def now_ms() -> int:
    return int(time.time() * 1000)


def envelope(page: Page, events: list[dict[str, Any]]) -> dict[str, Any]:
    # Meta names the webhook's object after what it concerns: a Facebook page, or an Instagram account.
    return {
        "object": "instagram" if page.kind == "instagram" else "page",
        "entry": [{"id": page.account_id, "time": now_ms(), "messaging": events}],
    }


def new_mid() -> str:
    return f"m_SBX{uuid.uuid4().hex}"


def deliver(page: Page, payload: dict[str, Any], *, duplicate: bool = False) -> list[dict[str, Any]]:
    """POST the payload to the page's webhook, signed; retried on non-2xx; sent twice when ``duplicate``."""
    attempts = post_signed(page.webhook_url, page.app_secret, payload, duplicate=duplicate)
    page.deliveries.extend(attempts)
    return attempts


def customer_event(page: Page, psid: str, data: dict[str, Any], media_url: str | None) -> tuple[str, dict[str, Any]]:
    """One customer event (``type``: text, attachment, quick_reply, postback, reaction, story_mention,
    story_reply, deleted); returns its mid and the messaging event."""
    kind = str(data.get("type") or "text")
    mid = str(data.get("mid") or new_mid())
    event: dict[str, Any] = {"sender": {"id": psid}, "recipient": {"id": page.account_id}, "timestamp": now_ms()}
    if kind == "postback":
        title = str(data.get("title") or "Get Started")
        event["postback"] = {"mid": mid, "title": title, "payload": str(data.get("payload") or title.upper())}
    elif kind == "reaction":
        action = str(data.get("action") or "react")
        event["reaction"] = {"mid": str(data["message_id"]), "action": action}
        if action == "react":
            event["reaction"].update(reaction=str(data.get("reaction") or "love"), emoji=str(data.get("emoji") or "❤"))
    elif kind == "deleted":
        event["message"] = {"mid": str(data["message_id"]), "is_deleted": True}
        mid = str(data["message_id"])
    else:
        message: dict[str, Any] = {"mid": mid}
        if data.get("text"):
            message["text"] = str(data["text"])
        if kind == "quick_reply":
            message["quick_reply"] = {"payload": str(data.get("payload") or data.get("text") or "")}
        if kind == "attachment" and media_url:
            message["attachments"] = [
                {"type": str(data.get("attachment_type") or "image"), "payload": {"url": media_url}}
            ]
        if kind == "story_mention":
            message["attachments"] = [
                {"type": "story_mention", "payload": {"url": media_url or "https://lookaside.example/story"}}
            ]
        if kind == "story_reply":
            message["reply_to"] = {"story": {"url": media_url or "https://lookaside.example/story", "id": new_mid()}}
        event["message"] = message
    return mid, event


def status_event(page: Page, psid: str, state: str, mids: list[str], watermark: int) -> dict[str, Any]:
    """A delivery (``mids`` and ``watermark``) or read event (Messenger: ``watermark``; Instagram: ``mid``)."""
    event: dict[str, Any] = {"sender": {"id": psid}, "recipient": {"id": page.account_id}, "timestamp": now_ms()}
    if state == "delivered":
        event["delivery"] = {"mids": mids, "watermark": watermark}
    elif page.kind == "instagram":
        event["read"] = {"mid": mids[-1] if mids else ""}
    else:
        event["read"] = {"watermark": watermark}
    return event


def report_later(page: Page, psid: str, mid: str) -> None:
    """The page's automatic delivery/read events for an accepted send, after its delay, in their own thread."""
    states = list(page.auto_statuses)

    def run() -> None:
        # The provider's own timing (the customer's app answering), not a wait in a test.
        time.sleep(page.status_delay)
        for state in states:
            deliver(page, envelope(page, [status_event(page, psid, state, [mid], now_ms())]))

    threading.Thread(target=run, name=f"sandbox-meta-{mid[-8:]}", daemon=True).start()
