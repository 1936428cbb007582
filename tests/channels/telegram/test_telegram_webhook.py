"""The Telegram webhook through the product's route: the secret token (401 and a counted rejection when
wrong), a retried update stored once, an edit updating the stored message with its history, a shared
contact linking the phone number, and the settings checks. Both databases."""

from __future__ import annotations

from sqlalchemy import func, select

from raccordo.channels.models import InboundRejection, RawInbound
from raccordo.channels.telegram.channel import TelegramChannel
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import ContactIdentity, Message
from tests.channels.telegram.helpers import telegram_inbox
from tests.channels.telegram.payloads import CHAT, SAMPLES, message_update, new_token


def _post(client, inbox: dict, update: dict, secret: str | None = None):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret or inbox["secrets"]["webhook_secret"]}
    return client.post(f"/api/v1/channels/telegram/{inbox['identifier']}/messages", json=update, headers=headers)


def _counts(rt, inbox_id: int) -> tuple[int, int]:
    with unit_of_work(rt.sessions) as session:
        raws = session.scalar(select(func.count()).select_from(RawInbound).where(RawInbound.inbox_id == inbox_id))
        rejected = session.scalar(
            select(func.count()).select_from(InboundRejection).where(InboundRejection.inbox_id == inbox_id)
        )
        return int(raws or 0), int(rejected or 0)


def test_the_secret_token_decides_and_a_retried_update_is_one_message(client, rt, org):
    inbox = telegram_inbox(client, org)
    assert set(inbox["secrets"]) == {"bot_token", "webhook_secret"}
    assert inbox["settings"]["mode"] == "webhook" and inbox["settings"]["language"] == "it"
    update = message_update(500, 1, SAMPLES["text"])
    assert _post(client, inbox, update, secret="not-the-secret").status_code == 401
    missing = client.post(f"/api/v1/channels/telegram/{inbox['identifier']}/messages", json=update)
    assert missing.status_code == 401
    assert _counts(rt, inbox["id"]) == (0, 2)  # refused: counted, never stored
    first = _post(client, inbox, update)
    assert first.status_code == 200, first.text
    again = _post(client, inbox, update)  # Telegram retries an update it thinks failed
    assert again.status_code == 200
    with unit_of_work(rt.sessions) as session:
        stored = session.scalars(select(Message).where(Message.inbox_id == inbox["id"])).all()
        assert len(stored) == 1
        assert stored[0].provider_message_id == f"{CHAT['id']}:1"
        assert stored[0].html is not None and "<strong>Buongiorno</strong>" in stored[0].html
    assert _counts(rt, inbox["id"]) == (2, 2)  # both requests stored raw before the answer


def test_an_edit_updates_the_stored_message_and_keeps_the_old_text(client, rt, org):
    inbox = telegram_inbox(client, org)
    assert _post(client, inbox, message_update(600, 8, {"text": "L'ordine è il 4411"})).status_code == 200
    edit = {
        "update_id": 601,
        "edited_message": {**message_update(0, 8, {"text": "L'ordine è il 4412"})["message"], "edit_date": 1733650300},
    }
    assert _post(client, inbox, edit).status_code == 200
    assert _post(client, inbox, edit).status_code == 200  # the same edit retried: recorded once
    with unit_of_work(rt.sessions) as session:
        (message,) = session.scalars(select(Message).where(Message.inbox_id == inbox["id"])).all()
        assert message.text == "L'ordine è il 4412"
        history = message.content_attributes["edits"]
        assert [h["previous_text"] for h in history] == ["L'ordine è il 4411"]
        assert message.content_attributes["edited"] is True


def test_sharing_ones_contact_links_the_phone_number_to_the_contact(client, rt, org):
    inbox = telegram_inbox(client, org)
    assert _post(client, inbox, message_update(700, 3, {"text": "ciao"})).status_code == 200
    assert _post(client, inbox, message_update(701, 4, SAMPLES["contact"])).status_code == 200
    with unit_of_work(rt.sessions) as session:
        messages = session.scalars(select(Message).where(Message.inbox_id == inbox["id"]).order_by(Message.id)).all()
        assert len(messages) == 2 and messages[0].sender_id == messages[1].sender_id
        kinds = {
            (i.kind, i.value)
            for i in session.scalars(
                select(ContactIdentity).where(
                    ContactIdentity.tenant_id == messages[0].tenant_id,
                    ContactIdentity.contact_id == messages[0].sender_id,
                )
            )
        }
        assert ("phone", "+393471234567") in kinds and ("telegram", str(CHAT["id"])) in kinds


def test_the_settings_form_refuses_a_malformed_token_and_defaults_to_telegrams_api(client, org):
    settings, secrets = TelegramChannel().validate_settings({}, {"bot_token": new_token()})
    assert settings["api_base_url"] == "https://api.telegram.org" and settings["mode"] == "webhook"
    assert secrets["webhook_secret"]  # generated: Telegram only allows A-Z, a-z, 0-9, _ and -
    assert all(c.isalnum() or c in "_-" for c in secrets["webhook_secret"])
    response = client.post(
        "/api/v1/inboxes",
        headers=org.headers(),
        json={"name": "Telegram", "channel": "telegram", "settings": {}, "secrets": {"bot_token": "not a token"}},
    )
    assert response.status_code in (400, 422)
    assert "bot_token" in response.text


def test_the_inbox_page_shows_the_webhook_url(fresh, client, org, rt):
    from tests.support.pages import login

    inbox = telegram_inbox(client, org)
    browser = fresh()
    login(browser, org, "admin")
    page = browser.get(f"/admin/inboxes/{inbox['id']}")
    assert page.status_code == 200
    expected = f"{rt.settings.resolved_public_url}/api/v1/channels/telegram/{inbox['identifier']}/messages"
    assert f'value="{expected}"' in page.text
    assert inbox["secrets"]["bot_token"] not in page.text and inbox["secrets"]["webhook_secret"] not in page.text
