"""The Messenger and Instagram webhooks through the product's routes: Meta's GET verification, signed
POSTs, provider retries, the app-level URL serving several pages, page-scoped ids, delivery and read
events in any order (by mid and by watermark), and the reply window with the HUMAN_AGENT tag. Both databases."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from raccordo.channels.models import InboundRejection, RawInbound
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Message
from tests.channels.messenger.helpers import account, meta_inbox, new_id
from tests.channels.messenger.payloads import PSID, envelope, event, signed
from tests.support.pages import login


def _counts(rt, inbox_id: int) -> tuple[int, int]:
    with unit_of_work(rt.sessions) as session:
        raws = session.scalar(select(func.count()).select_from(RawInbound).where(RawInbound.inbox_id == inbox_id))
        rejected = session.scalar(
            select(func.count()).select_from(InboundRejection).where(InboundRejection.inbox_id == inbox_id)
        )
        return int(raws or 0), int(rejected or 0)


def _post(client, inbox, payload, secret=None):
    body, headers = signed(secret or inbox["secrets"]["app_secret"], payload)
    return client.post(
        f"/api/v1/channels/{inbox['channel']}/{inbox['identifier']}/messages", content=body, headers=headers
    )


def _text(inbox, mid: str, text: str, sender: str = PSID) -> dict:
    page = account(inbox)
    return envelope(inbox["channel"], page, event(page, sender, message={"mid": mid, "text": text}))


@pytest.mark.parametrize("kind", ["messenger", "instagram"])
def test_meta_verifies_the_webhook_with_the_inboxs_verify_token(client, rt, org, kind):
    inbox = meta_inbox(client, org, kind)
    assert set(inbox["secrets"]) == {"access_token", "app_secret", "verify_token"}
    url = f"/api/v1/channels/{kind}/{inbox['identifier']}/messages"
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": inbox["secrets"]["verify_token"],
        "hub.challenge": "1158201444",
    }
    answer = client.get(url, params=good)
    assert answer.status_code == 200 and answer.text == "1158201444"
    assert client.get(url, params=good | {"hub.verify_token": "guess"}).status_code == 403
    assert _counts(rt, inbox["id"]) == (0, 1)
    assert client.get(f"/api/v1/channels/{kind}/webhook", params=good).text == "1158201444"
    assert client.get(f"/api/v1/channels/{kind}/webhook", params=good | {"hub.verify_token": "x"}).status_code == 403


@pytest.mark.parametrize("kind", ["messenger", "instagram"])
def test_signed_events_are_stored_once_and_bad_signatures_refused(client, rt, org, kind):
    inbox = meta_inbox(client, org, kind)
    payload = _text(inbox, f"m_{kind}_first", "Avete la taglia M?")
    first = _post(client, inbox, payload)
    assert first.status_code == 200, first.text
    (message_id,) = first.json()["message_ids"]
    again = _post(client, inbox, payload)  # Meta retries a delivery it thinks failed
    assert again.json()["message_ids"] == [message_id] and again.json()["duplicates"] == 1
    with unit_of_work(rt.sessions) as session:
        stored = session.get_one(Message, message_id)
        assert stored.text == "Avete la taglia M?" and stored.channel == kind
    body, headers = signed(inbox["secrets"]["app_secret"], payload)
    url = f"/api/v1/channels/{kind}/{inbox['identifier']}/messages"
    assert (
        client.post(url, content=body, headers=headers | {"X-Hub-Signature-256": "sha256=" + "0" * 64}).status_code
        == 401
    )
    assert client.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert client.post(url, content=body.replace(b"taglia", b"tagl1a"), headers=headers).status_code == 401
    assert _counts(rt, inbox["id"]) == (2, 3)  # refused requests: counted, never stored


def test_psids_of_two_pages_stay_two_contacts_and_one_app_webhook_serves_both(client, rt, org):
    secret = "the-meta-apps-secret"
    first, second = meta_inbox(client, org, app_secret=secret), meta_inbox(client, org, app_secret=secret)
    # The same numeric id on two pages (Meta scopes PSIDs by page: it is not the same person by any proof).
    payload = _text(first, "m_page_one", "dalla prima pagina")
    payload["entry"] += _text(second, "m_page_two", "dalla seconda pagina")["entry"]
    body, headers = signed(secret, payload)
    answer = client.post("/api/v1/channels/messenger/webhook", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    with unit_of_work(rt.sessions) as session:
        stored = dict(
            session.execute(
                select(Message.provider_message_id, Message.inbox_id).where(
                    Message.provider_message_id.in_(["m_page_one", "m_page_two"])
                )
            ).all()
        )
        identities = session.scalars(
            select(ContactIdentity).where(
                ContactIdentity.tenant_id == org.tenant_id, ContactIdentity.kind == "messenger"
            )
        ).all()
        contact_of = {i.value: i.contact_id for i in identities}
    assert stored == {"m_page_one": first["id"], "m_page_two": second["id"]}
    one, two = f"{account(first)}:{PSID}", f"{account(second)}:{PSID}"
    assert one in contact_of and two in contact_of and contact_of[one] != contact_of[two]
    unknown = envelope("messenger", new_id())
    body, headers = signed(secret, unknown)
    assert client.post("/api/v1/channels/messenger/webhook", content=body, headers=headers).status_code == 404


def _agent_message(rt, conversation_id: int, inbox_id: int, mid: str, minutes_ago: int) -> int:
    with unit_of_work(rt.sessions) as session:
        inbound = session.scalars(select(Message).where(Message.conversation_id == conversation_id)).first()
        message = Message(
            tenant_id=inbound.tenant_id,
            conversation_id=conversation_id,
            direction="outbound",
            channel=inbound.channel,
            inbox_id=inbox_id,
            sender_type="user",
            text="risposta",
            provider_message_id=mid,
            delivery_status="sent",
            created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        )
        session.add(message)
        session.flush()
        return message.id


def _statuses(rt, *ids: int) -> list[str]:
    with unit_of_work(rt.sessions) as session:
        return [session.get_one(Message, i).delivery_status for i in ids]


def test_delivery_and_read_events_apply_in_any_order_by_mid_and_by_watermark(client, rt, org):
    inbox = meta_inbox(client, org)
    page = account(inbox)
    (inbound_id,) = _post(client, inbox, _text(inbox, "m_status_in", "ciao")).json()["message_ids"]
    with unit_of_work(rt.sessions) as session:
        conversation_id = session.get_one(Message, inbound_id).conversation_id
    older = _agent_message(rt, conversation_id, inbox["id"], "m_out_older", 10)
    newer = _agent_message(rt, conversation_id, inbox["id"], "m_out_newer", 1)
    watermark = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp() * 1000)

    # Read first (by watermark: only the older message is covered), then the late delivery (by mid): read stays.
    read = envelope("messenger", page, event(page, PSID, read={"watermark": watermark}))
    assert _post(client, inbox, read).status_code == 200
    assert _statuses(rt, older, newer) == ["read", "sent"]
    delivered = envelope(
        "messenger", page, event(page, PSID, delivery={"mids": ["m_out_older", "m_out_newer"], "watermark": watermark})
    )
    assert _post(client, inbox, delivered).status_code == 200
    assert _statuses(rt, older, newer) == ["read", "delivered"]
    # Another customer's watermark on the same page touches nothing of this conversation.
    stranger = envelope(
        "messenger", page, event(page, "999000111", read={"watermark": int(datetime.now(UTC).timestamp() * 1000)})
    )
    assert _post(client, inbox, stranger).status_code == 200
    assert _statuses(rt, older, newer) == ["read", "delivered"]
    everything = envelope(
        "messenger", page, event(page, PSID, read={"watermark": int(datetime.now(UTC).timestamp() * 1000)})
    )
    assert _post(client, inbox, everything).status_code == 200
    assert _statuses(rt, older, newer) == ["read", "read"]


@pytest.mark.parametrize("human_agent", [False, True])
def test_the_reply_window_is_24_hours_or_7_days_with_human_agent(client, rt, org, fresh, human_agent):
    inbox = meta_inbox(client, org, human_agent=human_agent)
    (message_id,) = _post(client, inbox, _text(inbox, f"m_window_{human_agent}", "ciao")).json()["message_ids"]
    with unit_of_work(rt.sessions) as session:
        conversation_id = session.get_one(Message, message_id).conversation_id
    reply = f"/api/v1/conversations/{conversation_id}/reply"
    # The composer is told which window applies: with the tag, 7 days with the standard 24 hours inside.
    browser = fresh()
    login(browser, org, "agent")
    page = browser.get(f"/conversations/{conversation_id}").text
    option = re.search(rf'<option value="{inbox["id"]}"[^>]*data-rules="([^"]+)"', page).group(1)
    shown = json.loads(html.unescape(option))
    assert shown["window_open"] is True and shown["reply_window_seconds"] == (168 if human_agent else 24) * 3600
    assert shown["standard_window_seconds"] == (24 * 3600 if human_agent else None)
    assert 'data-t-window-open-standard="' in page

    def age(hours: float) -> None:
        with unit_of_work(rt.sessions) as session:
            when = datetime.now(UTC) - timedelta(hours=hours)
            session.execute(update(Message).where(Message.id == message_id).values(created_at=when))

    age(25)
    answer = client.post(reply, headers=org.headers(), json={"text": "dopo un giorno", "inbox_id": inbox["id"]})
    assert answer.status_code == (201 if human_agent else 422), answer.text
    age(24 * 7 + 1)
    refused = client.post(reply, headers=org.headers(), json={"text": "dopo una settimana", "inbox_id": inbox["id"]})
    assert refused.status_code == 422 and "template" not in refused.text.lower()
    assert ("168" if human_agent else "24") in refused.text


def test_page_and_account_ids_must_be_numeric(client, org):
    for kind, settings, field in (
        ("messenger", {"page_id": "BottegaDigitale"}, "settings.page_id"),
        ("instagram", {"page_id": new_id(), "account_id": "@bottega"}, "settings.account_id"),
    ):
        answer = client.post(
            "/api/v1/inboxes",
            headers=org.headers(),
            json={
                "name": kind,
                "channel": kind,
                "settings": settings,
                "secrets": {"access_token": "t", "app_secret": "s"},
            },
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field and "digits" in answer.text


def test_an_admin_creates_an_instagram_inbox_from_its_form(client, rt, org):
    browser = TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)
    csrf = login(browser, org, "admin")
    page = browser.get("/admin/inboxes?channel=instagram")
    assert page.status_code == 200 and "HUMAN_AGENT" in page.text and 'name="account_id"' in page.text
    form = {
        "csrf_token": csrf,
        "channel": "instagram",
        "name": "Instagram negozio",
        "account_id": "bottega.digitale",
        "page_id": new_id(),
        "human_agent": "1",
        "access_token": "EAAG-typed-token",
        "app_secret": "typed-app-secret",
    }
    refused = browser.post("/admin/inboxes", data=form)
    assert refused.status_code == 422 and 'id="account_id-error"' in refused.text
    created = browser.post("/admin/inboxes", data=form | {"account_id": new_id()})
    assert created.status_code == 201, created.text
    assert 'class="shown-secret"' in created.text  # the verify token, shown once
    assert "EAAG-typed-token" not in created.text and "typed-app-secret" not in created.text
    assert "/api/v1/channels/instagram/" in created.text  # the webhook URL to paste
