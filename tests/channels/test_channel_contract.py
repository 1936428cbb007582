"""The channel plug-in contract, proven by a throwaway channel that exists only in this module.

``ContractSmsChannel`` is shaped like the channels to come (Twilio SMS, Meta's webhooks): a GET
handshake echoing ``hub.challenge``, form-encoded POSTs signed Twilio-style (HMAC-SHA1 over the
full URL plus the sorted form parameters, base64, in ``X-Twilio-Signature``) that the channel
verifies from the whole request, a TwiML (XML) answer, delivery-status callbacks on the same
route, webhook provisioning when an inbox is saved or deactivated, a poller the worker runs, and
a settings form with Italian and English labels. It is installed through the public registration
API only: no other file knows it, and everything below goes through the product's own routes,
pages, services and worker. Both database backends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from raccordo.bootstrap.worker import WorkerLoop
from raccordo.channels.base import (
    Capabilities,
    Channel,
    ChannelRejected,
    DeliveryReport,
    Feature,
    InboundEvent,
    InboundIdentity,
    InboundRequest,
    InboxConfig,
    OutboundMessage,
    WebhookResponse,
    get_channel,
    register,
    unregister,
)
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.settings_form import FieldKind, Label, SettingsField, SettingsForm
from raccordo.channels.models import InboundRejection, RawInbound
from raccordo.channels.services import delivery
from raccordo.channels.services.inbound import process_raw, store_raw
from raccordo.platform import jobs
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message
from tests.support.pages import login, set_language

KIND = "contract_sms"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's scheme: the full URL, then each POST parameter's name and value, sorted by name."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class FakeProvider:
    """What the provider's side would see: registered webhooks, sent messages, a queue to poll."""

    def __init__(self) -> None:
        self.webhooks: dict[str, str] = {}
        self.sent: list[OutboundMessage] = []
        self.to_poll: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()


PROVIDER = FakeProvider()


class ContractPoller:
    """Fetches the provider's queued messages and hands them to the inbound path like a webhook's."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="contract-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                identifier, payload = PROVIDER.to_poll.get(timeout=0.05)
            except queue.Empty:
                continue
            request = InboundRequest.polled(
                f"{KIND}:poll", json.dumps(payload).encode(), {"content-type": "application/json"}
            )
            process_raw(self.rt, store_raw(self.rt, identifier, request, KIND))


class ContractSmsChannel(Channel):
    kind = KIND
    capabilities = Capabilities(text=True)
    features = frozenset(
        {Feature.WEBHOOK, Feature.HANDSHAKE, Feature.PROVISIONING, Feature.POLLING, Feature.DELIVERY_STATUS}
    )
    reply_identity_kinds = ("phone",)
    composer = ComposerRules(max_length=1600, attachments=False, sms_segments=True)
    settings_form = SettingsForm(
        fields=(
            SettingsField("account_sid", Label("Account SID", "SID dell'account"), required=True),
            SettingsField("sender", Label("Sender number", "Numero mittente"), default="+390000000000"),
            SettingsField(
                "auth_token", Label("Auth token", "Token di autenticazione"), FieldKind.SECRET, required=True
            ),
        ),
        shown_once=(
            SettingsField("verify_token", Label("Verify token", "Token di verifica"), FieldKind.SECRET, generated=True),
        ),
    )

    def handshake(self, inbox: InboxConfig, request: InboundRequest) -> WebhookResponse:
        token = request.query_value("hub.verify_token") or ""
        if request.query_value("hub.mode") != "subscribe" or not hmac.compare_digest(
            token, inbox.secrets["verify_token"]
        ):
            raise ChannelRejected("signature.mismatch", status=403)
        return WebhookResponse((request.query_value("hub.challenge") or "").encode(), "text/plain; charset=utf-8")

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        if request.method == "POLL":  # fetched by our own poller over the provider's authenticated API
            data = json.loads(request.body)
        else:
            params = request.form()
            expected = twilio_signature(inbox.secrets["auth_token"], request.url, params)
            if not hmac.compare_digest(expected, request.headers.get("x-twilio-signature", "")):
                raise ChannelRejected("signature.mismatch", status=401)
            data = dict(params)
        if "MessageStatus" in data:
            return [
                DeliveryReport(
                    (data["MessageSid"],),
                    data["MessageStatus"],
                    f"error {data.get('ErrorCode', '?')}",
                    f"status-{data['MessageSid']}",
                )
            ]
        return [
            InboundEvent(
                provider_message_id=data["MessageSid"],
                identities=[InboundIdentity("phone", data["From"], True)],
                text=data["Body"],
            )
        ]

    def webhook_response(
        self, inbox: InboxConfig, request: InboundRequest, events: list[InboundEvent | DeliveryReport]
    ) -> WebhookResponse:
        return WebhookResponse(TWIML, "application/xml")

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        PROVIDER.sent.append(message)
        return f"SM{message.idempotency_key[-20:]}"

    def provision(self, inbox: InboxConfig, webhook_url: str) -> None:
        PROVIDER.webhooks[inbox.identifier] = webhook_url

    def unprovision(self, inbox: InboxConfig) -> None:
        PROVIDER.webhooks.pop(inbox.identifier, None)

    def poller(self, rt: Runtime) -> ContractPoller:
        return ContractPoller(rt)


@pytest.fixture
def contract_channel() -> Iterator[str]:
    register(ContractSmsChannel)
    yield KIND
    unregister(KIND)


def _create_inbox(client: TestClient, org: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/inboxes",
        headers=org.headers(),
        json={
            "name": "SMS",
            "channel": KIND,
            "settings": {"account_sid": "AC123"},
            "secrets": {"auth_token": f"tok-{uuid.uuid4().hex}"},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def _signed_post(
    client: TestClient, inbox: dict[str, Any], params: dict[str, str], *, query: str = "", token: str | None = None
) -> Any:
    path = f"/api/v1/channels/{KIND}/{inbox['identifier']}/messages" + (f"?{query}" if query else "")
    signature = twilio_signature(
        token or inbox["secrets"]["auth_token"], f"http://testserver{path}", list(params.items())
    )
    return client.post(
        path,
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


def _counts(rt: Runtime, inbox_id: int) -> tuple[int, int]:
    with unit_of_work(rt.sessions) as session:
        raws = session.scalar(select(func.count()).select_from(RawInbound).where(RawInbound.inbox_id == inbox_id)) or 0
        rejections = (
            session.scalar(
                select(func.count()).select_from(InboundRejection).where(InboundRejection.inbox_id == inbox_id)
            )
            or 0
        )
        return raws, rejections


def test_a_throwaway_channel_plugs_into_the_one_webhook_route(client, rt, org, contract_channel):
    inbox = _create_inbox(client, org)
    assert set(inbox["secrets"]) == {"auth_token", "verify_token"}  # the declared form generated the verify token
    assert inbox["settings"] == {"account_sid": "AC123", "sender": "+390000000000"}  # and filled the default
    base = f"/api/v1/channels/{KIND}/{inbox['identifier']}/messages"

    # Provisioning: saving the inbox scheduled a job that registered the webhook with the provider.
    jobs.run_due(rt, kinds=["channels.provision"])
    assert PROVIDER.webhooks[inbox["identifier"]] == inbox["inbound_url"]

    # GET handshake: the challenge comes back as the provider expects; a wrong verify token is refused and counted.
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": inbox["secrets"]["verify_token"],
        "hub.challenge": "1158201444",
    }
    answer = client.get(base, params=good)
    assert (
        answer.status_code == 200
        and answer.text == "1158201444"
        and answer.headers["content-type"].startswith("text/plain")
    )
    assert client.get(base, params=good | {"hub.verify_token": "guess"}).status_code == 403
    assert _counts(rt, inbox["id"]) == (0, 1)

    # A form-encoded POST signed over the full URL (query included) and the sorted parameters.
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "From": "+39 333 123 4567",
        "To": "+390000000000",
        "Body": "Ciao, il mio ordine?",
    }
    received = _signed_post(client, inbox, params, query="attempt=1")
    assert received.status_code == 200, received.text
    assert received.content == TWIML and received.headers["content-type"].startswith("application/xml")
    with unit_of_work(rt.sessions) as session:
        raw = session.scalars(select(RawInbound).where(RawInbound.inbox_id == inbox["id"])).one()
        assert raw.status == "processed" and raw.method == "POST"
        assert raw.url == f"http://testserver{base}?attempt=1" and raw.query == [["attempt", "1"]]
        assert raw.headers["x-twilio-signature"] and raw.body == urlencode(params).encode()
        message = session.get_one(Message, raw.message_ids[0])
        assert message.text == "Ciao, il mio ordine?"

    # A forged signature (or one over another URL) is refused before anything is stored, and counted.
    assert _signed_post(client, inbox, params | {"Body": "forged"}, token="not-the-token").status_code == 401
    path_signed = twilio_signature(inbox["secrets"]["auth_token"], f"http://testserver{base}", list(params.items()))
    moved = client.post(
        base + "?attempt=2",
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": path_signed},
    )
    assert moved.status_code == 401
    assert _counts(rt, inbox["id"]) == (1, 3)

    # The channel in the URL must be the inbox's; channels without a handshake answer a GET with 405.
    assert client.post(f"/api/v1/channels/api/{inbox['identifier']}/messages", content=b"{}").status_code == 404
    api_inbox = client.post(
        "/api/v1/inboxes", json={"name": "API", "channel": "api", "settings": {}}, headers=org.headers()
    ).json()
    assert client.get(f"/api/v1/channels/api/{api_inbox['identifier']}/messages").status_code == 405

    # Delivery-status callbacks arrive on the same route: the agent's reply is sent, then reported failed.
    conversation = client.get("/api/v1/conversations", params={"inbox_id": inbox["id"]}, headers=org.headers()).json()[
        "items"
    ][0]
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/reply",
        json={"text": "Arriva domani"},
        headers=org.headers("agent"),
    )
    assert reply.status_code in (200, 201), reply.text
    delivery.run_once(rt)
    sent = next(m for m in PROVIDER.sent if m.message_id == reply.json()["id"])
    assert sent.recipient is not None and sent.recipient.kind == "phone" and sent.text == "Arriva domani"
    with unit_of_work(rt.sessions) as session:
        provider_id = session.get_one(Message, sent.message_id).provider_message_id
    delivered = _signed_post(client, inbox, {"MessageSid": provider_id, "MessageStatus": "delivered"})
    assert delivered.status_code == 200 and delivered.content == TWIML
    messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()
    assert next(m for m in messages if m["id"] == sent.message_id)["delivery_status"] == "delivered"
    status = _signed_post(client, inbox, {"MessageSid": provider_id, "MessageStatus": "failed", "ErrorCode": "30003"})
    assert status.status_code == 200 and status.content == TWIML
    messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=org.headers()).json()
    assert next(m for m in messages if m["id"] == sent.message_id)["delivery_status"] == "failed"

    # Deactivating the inbox removes the webhook from the provider.
    assert (
        client.patch(f"/api/v1/inboxes/{inbox['id']}", json={"active": False}, headers=org.headers()).status_code == 200
    )
    jobs.run_due(rt, kinds=["channels.provision"])
    assert inbox["identifier"] not in PROVIDER.webhooks


def test_the_worker_runs_the_channels_poller_found_in_the_registry(client, rt, org, contract_channel):
    inbox = _create_inbox(client, org)
    loop = WorkerLoop(rt)
    poller = loop.pollers[KIND]
    loop.start()
    try:
        assert poller.running
        sid = f"SM{uuid.uuid4().hex}"
        PROVIDER.to_poll.put(
            (inbox["identifier"], {"MessageSid": sid, "From": "+39 347 765 4321", "Body": "Dal poller"})
        )
        deadline = time.monotonic() + 20
        found = None
        while found is None and time.monotonic() < deadline:
            with unit_of_work(rt.sessions) as session:
                found = session.scalars(
                    select(Message).where(Message.inbox_id == inbox["id"], Message.provider_message_id == sid)
                ).one_or_none()
                if found is None:
                    time.sleep(0.05)
        assert found is not None and found.text == "Dal poller", "the worker's poller stored and ingested the message"
        with unit_of_work(rt.sessions) as session:
            raw = session.scalars(select(RawInbound).where(RawInbound.inbox_id == inbox["id"])).one()
            assert raw.method == "POLL" and raw.status == "processed"
    finally:
        loop.stop()
    assert not poller.running


def test_the_inbox_page_renders_and_reads_the_declared_form(client, rt, org, contract_channel):
    set_language(rt, org.users["admin"], "it")
    browser = TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)
    csrf = login(browser, org, "admin")
    page = browser.get(f"/admin/inboxes?channel={KIND}")
    assert page.status_code == 200 and "SID dell&#39;account" in page.text and "Token di autenticazione" in page.text
    assert 'value="+390000000000"' in page.text  # the declared default
    form = {
        "csrf_token": csrf,
        "channel": KIND,
        "name": "SMS negozio",
        "account_sid": "",
        "auth_token": "Tk-9f3e-typed",
    }
    missing = browser.post("/admin/inboxes", data=form)
    assert missing.status_code == 422 and 'id="account_sid-error"' in missing.text
    created = browser.post("/admin/inboxes", data=form | {"account_sid": "AC9"})
    assert created.status_code == 201, created.text
    assert "Token di verifica" in created.text and 'class="shown-secret"' in created.text  # shown once
    assert "Tk-9f3e-typed" not in created.text  # a typed secret never comes back


def test_registration_is_explicit_and_one_module_per_kind(contract_channel):
    assert isinstance(get_channel(KIND), ContractSmsChannel)

    class Impostor(ContractSmsChannel):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    register(ContractSmsChannel)  # the same class again: a no-op
    assert type(get_channel(KIND)) is ContractSmsChannel


def test_composer_rules_name_templates_outside_the_message_window():
    from datetime import UTC, datetime, timedelta

    from raccordo.channels.domain.composer import check_reply
    from raccordo.platform.errors import InvalidInput

    now = datetime(2026, 5, 5, 12, tzinfo=UTC)
    rules = ComposerRules(reply_window_seconds=24 * 3600, templates_outside_window=True)
    with pytest.raises(InvalidInput) as closed:
        check_reply(rules, channel=KIND, text="Ci sei?", files=[], last_inbound_at=now - timedelta(days=2), now=now)
    assert closed.value.key == "composer.window_closed_template"
    with pytest.raises(InvalidInput) as never:
        check_reply(rules, channel=KIND, text="Ci sei?", files=[], last_inbound_at=None, now=now)
    assert never.value.key == "composer.window_never_opened_template"
    assert rules.as_data()["templates_outside_window"] is True  # the composer shows it


def test_installed_packages_add_channels_through_entry_points(monkeypatch):
    from importlib.metadata import EntryPoint

    import raccordo.bootstrap.channels as installer

    declared = [EntryPoint(KIND, f"{__name__}:ContractSmsChannel", installer.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(
        installer, "entry_points", lambda group: declared if group == installer.ENTRY_POINT_GROUP else []
    )
    try:
        kinds = installer.install_channels()
        assert KIND in kinds and {"api", "email", "widget"} <= set(kinds)  # the built-in subpackages too
        assert type(get_channel(KIND)).__name__ == "ContractSmsChannel"
    finally:
        unregister(KIND)
    assert get_channel(KIND) is None
