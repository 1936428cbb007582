"""The composer's template picker, server side: the approved templates of a WhatsApp inbox, prefilled from
the contact and conversation where the template's examples say so, a marketing one unavailable without
consent (with the reason); the desk's reply form posts the picked template; a failed message shows its
reason in the agent's language. Both databases."""

from __future__ import annotations

import json
import uuid

import httpx

from raccordo.channels.whatsapp import templates
from tests.sandbox.test_whatsapp_sandbox import _customer_writes, _message, _setup
from tests.sandbox.test_whatsapp_templates_outbox import _age_window
from tests.support.pages import login, set_language
from tests.support.widget import deliver


def _submit(sandbox, inbox, template: dict) -> None:
    """A template created at Meta (the sandbox's Graph API, with the inbox's token) and approved."""
    answer = httpx.post(
        f"{sandbox.url}/v21.0/{inbox['settings']['waba_id']}/message_templates",
        headers={"Authorization": f"Bearer {inbox['secrets']['access_token']}"},
        json=template,
    )
    assert answer.status_code == 200 and answer.json()["status"] == "PENDING", answer.text
    number = inbox["settings"]["phone_number_id"]
    reviewed = httpx.post(
        f"{sandbox.url}/_sandbox/whatsapp/numbers/{number}/templates/{template['name']}/{template['language']}",
        json={"status": "APPROVED"},
    )
    assert reviewed.status_code == 200


def test_the_picker_lists_approved_templates_prefilled_and_explains_marketing(client, rt, org, sandbox, served, fresh):
    inbox, control = _setup(client, org, sandbox, served)
    _submit(
        sandbox,
        inbox,
        {
            "name": "stato_pratica",
            "language": "it",
            "category": "UTILITY",
            "components": [
                {
                    "type": "BODY",
                    "text": "Gentile {{1}}, la pratica {{2}} è in lavorazione. Scadenza: {{3}}.",
                    "example": {"body_text": [["nome", "#4412", "12 marzo"]]},
                }
            ],
        },
    )
    httpx.post(f"{control}/templates/offerta_estate/it", json={"status": "APPROVED"})
    templates.sync_templates(rt, inbox["id"])
    wa_id = f"39356{uuid.uuid4().int % 10**7:07d}"
    first = _message(rt, provider_message_id=_customer_writes(control, wa_id, type="text", text="Novità?"))
    conversation_id = first.conversation_id
    url = f"/api/v1/conversations/{conversation_id}/channel-templates"

    listed = client.get(url, params={"inbox_id": inbox["id"]}, headers=org.headers("agent"))
    assert listed.status_code == 200, listed.text
    rows = {row["name"]: row for row in listed.json()}
    assert set(rows) == {"hello_world", "ripresa_contatto", "stato_pratica", "offerta_estate"}  # approved only
    # The contact's first name and the conversation's reference, where the examples say so; the date is the agent's.
    assert rows["stato_pratica"]["prefill"] == ["Giulia", f"#{conversation_id}", ""]
    assert rows["stato_pratica"]["hints"] == ["nome", "#4412", "12 marzo"]
    assert rows["stato_pratica"]["unavailable"] is None
    assert "marketing" in rows["offerta_estate"]["unavailable"]
    assert rows["offerta_estate"]["attributes"] == {"template": {"name": "offerta_estate", "language": "it"}}
    default = client.get(url, headers=org.headers("agent")).json()  # the customer's last inbox
    assert {row["name"] for row in default} == set(rows)
    assert client.get(url, params={"inbox_id": inbox["id"]}).status_code == 401

    # The desk's reply form posts the picked template as content_attributes, outside the window.
    _age_window(rt, control, conversation_id, wa_id)
    desk = fresh()
    csrf = login(desk, org, "owner")
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    picked = {"template": {"name": "stato_pratica", "language": "it", "variables": ["Giulia", "#7", "12 marzo"]}}
    sent = desk.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "", "inbox_id": str(inbox["id"]), "content_attributes": json.dumps(picked)},
        headers=hx,
    )
    assert sent.status_code == 200, sent.text
    shown = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=org.headers()).json()
    rows_out = shown["items"] if isinstance(shown, dict) else shown
    (reply,) = [m for m in rows_out if m["direction"] == "outbound"]
    assert reply["text"] == "Gentile Giulia, la pratica #7 è in lavorazione. Scadenza: 12 marzo."
    refused = desk.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "", "inbox_id": str(inbox["id"]), "content_attributes": "{not json"},
        headers=hx,
    )
    assert refused.status_code == 422 and "choose the template again" in refused.text

    # The customer cannot be reached: the failure shows on the message in the agent's language.
    httpx.post(f"{control}/control", json={"unreachable": [wa_id]})
    assert deliver(rt, reply["id"]) == "failed"
    set_language(rt, org.users["owner"], "it")
    thread = desk.get(f"/conversations/{conversation_id}/thread", headers={"HX-Request": "true"}).text
    assert "Il cliente non può ricevere questo messaggio" in thread
    set_language(rt, org.users["owner"], "en")
    thread = desk.get(f"/conversations/{conversation_id}/thread", headers={"HX-Request": "true"}).text
    assert "The customer cannot receive this message" in thread
