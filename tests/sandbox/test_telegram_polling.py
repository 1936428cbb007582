"""Telegram long polling end to end against the sandbox: an inbox in polling mode has its webhook deleted,
the worker's service receives what the customer writes, stores it raw before moving the offset, and a
restarted service neither loses nor duplicates a message (an update served twice is one message). Both databases."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from raccordo.channels.models import Inbox, RawInbound
from raccordo.channels.telegram.service import OFFSET_KEY, TelegramService, poll_once
from raccordo.platform import jobs
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message
from tests.channels.telegram.helpers import telegram_inbox
from tests.channels.telegram.payloads import new_token
from tests.support.mail import wait_for


def _texts(rt, inbox_id: int) -> list[str]:
    with unit_of_work(rt.sessions) as session:
        return list(session.scalars(select(Message.text).where(Message.inbox_id == inbox_id).order_by(Message.id)))


def _offset(rt, inbox_id: int) -> int | None:
    with unit_of_work(rt.sessions) as session:
        return session.get_one(Inbox, inbox_id).settings.get(OFFSET_KEY)


def test_the_poller_receives_stores_first_and_does_not_duplicate_after_a_restart(client, rt, org, sandbox):
    token = new_token()
    registered = httpx.post(f"{sandbox.url}/_sandbox/telegram/bots", json={"token": token}).json()
    control = f"{sandbox.url}/_sandbox/telegram/bots/{registered['id']}"
    # A webhook left from an earlier setup: saving the inbox in polling mode deletes it (else Telegram answers 409).
    httpx.post(f"{sandbox.url}/bot{token}/setWebhook", json={"url": "https://old.example/hook"})
    inbox = telegram_inbox(client, org, base_url=sandbox.url, mode="polling", token=token)
    assert jobs.run_due(rt, kinds=["channels.provision"]) >= 1
    assert httpx.get(control).json()["webhook_url"] == ""
    user = 720000000 + int(inbox["id"])

    def writes(text: str, **extra) -> None:
        answer = httpx.post(f"{control}/users/{user}/messages", json={"text": text, **extra}, timeout=30)
        assert answer.status_code == 200 and answer.json()["deliveries"] == []  # queued for getUpdates

    service = TelegramService(rt, interval=0.2, poll_timeout=1)
    service.start()
    try:
        writes("Primo messaggio", duplicate=True)  # served twice by getUpdates: one message
        wait_for(lambda: _texts(rt, inbox["id"]) == ["Primo messaggio"], what="the polled message")
        first_offset = wait_for(lambda: _offset(rt, inbox["id"]), what="the saved offset")
        assert inbox["id"] in service.polled_inboxes
    finally:
        service.stop(timeout=10)
    assert not service.running

    writes("Secondo messaggio")  # written while no poller runs
    restarted = TelegramService(rt, interval=0.2, poll_timeout=1)
    restarted.start()
    try:
        wait_for(lambda: _texts(rt, inbox["id"]) == ["Primo messaggio", "Secondo messaggio"], what="the second message")
        wait_for(lambda: (_offset(rt, inbox["id"]) or 0) > first_offset, what="the offset to advance")
    finally:
        restarted.stop(timeout=10)
    with unit_of_work(rt.sessions) as session:
        raws = session.scalar(select(func.count()).select_from(RawInbound).where(RawInbound.inbox_id == inbox["id"]))
    assert raws == 3  # every served update stored raw, the duplicate included; two messages
    assert httpx.get(control).json()["queued"] == 0 or poll_once(rt, inbox["id"], 0) == 0
    assert _texts(rt, inbox["id"]) == ["Primo messaggio", "Secondo messaggio"]
    # (Deactivated: a worker of a later test must not poll a sandbox that is gone.)
    assert (
        client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"active": False}, headers=org.headers()).status_code == 200
    )


def test_the_customer_phone_page_lists_bots_and_shows_the_chat(sandbox):
    token = new_token()
    bot_id = httpx.post(
        f"{sandbox.url}/_sandbox/telegram/bots", json={"token": token, "username": "pagina_bot"}
    ).json()["id"]
    page = httpx.get(f"{sandbox.url}/_sandbox/telegram/phone", params={"lang": "en"})
    assert page.status_code == 200 and "@pagina_bot" in page.text and "Customer phone (Telegram sandbox)" in page.text
    assert "Telefono del cliente" in httpx.get(f"{sandbox.url}/_sandbox/telegram/phone").text
    assert "/_sandbox/telegram/phone" in httpx.get(f"{sandbox.url}/_sandbox/whatsapp/phone").text
    httpx.post(f"{sandbox.url}/_sandbox/telegram/bots/{bot_id}/users/5551/messages", json={"text": "ciao"})
    answer = httpx.post(f"{sandbox.url}/bot{token}/sendMessage", json={"chat_id": 5551, "text": "Salve!"})
    assert answer.json()["ok"] is True
    chat = httpx.get(f"{sandbox.url}/_sandbox/telegram/phone/{bot_id}/5551").json()["messages"]
    assert [(m["from"], m["text"]) for m in chat] == [("customer", "ciao"), ("agent", "Salve!")]
    # The Bot API's own refusals: a wrong token, a chat that never wrote.
    assert httpx.get(f"{sandbox.url}/bot{token}x/getMe").json() == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }
    missing = httpx.post(f"{sandbox.url}/bot{token}/sendMessage", json={"chat_id": 999, "text": "x"})
    assert missing.status_code == 400 and missing.json()["description"] == "Bad Request: chat not found"


def test_the_bot_token_never_reaches_the_logs(sandbox, caplog):
    import logging

    from raccordo.channels.telegram.botapi import BotApi, BotApiFailure

    token = new_token()
    httpx.post(f"{sandbox.url}/_sandbox/telegram/bots", json={"token": token})
    bot = BotApi(sandbox.url, token)
    with caplog.at_level(logging.INFO, logger="httpx"):
        assert bot.get_me()["is_bot"] is True
        try:
            bot.get_file("unknown")
        except BotApiFailure as exc:
            assert token not in str(exc)
    assert "getMe" in caplog.text and "bot<token>" in caplog.text  # httpx logged the call, without the token
    assert token not in caplog.text and token.split(":")[1] not in caplog.text
