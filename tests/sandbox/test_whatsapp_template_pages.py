"""The WhatsApp template admin pages against the sandbox: an admin submits a template from a form (no
JSON), Meta (the sandbox) takes it as pending and reviews it, "sync now" shows the new status; wrong
fields are refused next to the field; agents are kept out. Both databases."""

from __future__ import annotations

import re

import httpx

from raccordo.channels.whatsapp import authoring
from raccordo.platform.errors import InvalidInput
from tests.sandbox.test_whatsapp_sandbox import _setup
from tests.support.pages import login


def _row(page: str, name: str) -> str:
    found = re.search(rf'<tr data-template="{name}:it">(.*?)</tr>', page, re.S)
    assert found, f"{name} is not listed"
    return found.group(1)


def test_an_admin_submits_a_template_and_sees_its_review(client, rt, org, sandbox, served, fresh):
    inbox, control = _setup(client, org, sandbox, served)
    path = f"/admin/inboxes/{inbox['id']}/whatsapp-templates"
    admin = fresh()
    csrf = login(admin, org, "admin")
    assert path in admin.get(f"/admin/inboxes/{inbox['id']}").text  # the inbox page links its templates

    form = {
        "csrf_token": csrf,
        "name": "conferma_appuntamento",
        "category": "utility",
        "language": "it",
        "header": "Appuntamento",
        "body": "Buongiorno {{1}}, confermiamo l'appuntamento del {{2}}.",
        "examples": "nome\n12 marzo",
        "footer": "Raccordo Sandbox",
        "button_kind_1": "quick_reply",
        "button_text_1": "Confermo",
        "button_kind_2": "url",
        "button_text_2": "Dettagli",
        "button_value_2": "https://example.com/appuntamenti",
    }
    refused = admin.post(path, data={**form, "examples": "nome"})
    assert refused.status_code == 422 and 'id="examples-error"' in refused.text
    assert "the body has 2, the examples are 1" in refused.text  # in the admin's language
    bad_button = admin.post(path, data={**form, "button_value_2": "http://insecure"})
    assert bad_button.status_code == 422 and 'id="button_value_2-error"' in bad_button.text

    submitted = admin.post(path, data=form)
    assert submitted.status_code == 303, submitted.text
    page = admin.get(path).text
    row = _row(page, "conferma_appuntamento")
    assert "Pending review" in row and "Utility" in row and "Appuntamento" in row
    again = admin.post(path, data=form)  # the same name and language: Meta refuses it, the page says why
    assert again.status_code == 422 and "Meta refused the template" in again.text

    review = httpx.get(f"{sandbox.url}/_sandbox/whatsapp/templates", params={"lang": "en"}).text
    assert "conferma_appuntamento" in review and "PENDING" in review and "Approve" in review
    assert "/_sandbox/whatsapp/templates?lang=en" in httpx.get(f"{sandbox.url}/_sandbox/whatsapp/phone?lang=en").text
    reviewed = httpx.post(f"{control}/templates/conferma_appuntamento/it", json={"status": "APPROVED"})
    assert reviewed.status_code == 200
    assert "Pending review" in _row(admin.get(path).text, "conferma_appuntamento")  # not synced yet
    assert admin.post(f"{path}/sync", data={"csrf_token": csrf}).status_code == 303
    assert "Approved" in _row(admin.get(path).text, "conferma_appuntamento")
    synced = client.get(f"/api/v1/inboxes/{inbox['id']}", headers=org.headers()).json()["settings"]["templates"]
    (kept,) = [t for t in synced if t["name"] == "conferma_appuntamento"]
    assert kept["examples"] == ["nome", "12 marzo"] and kept["header"] == "Appuntamento"
    assert [b["type"] for b in kept["buttons"]] == ["quick_reply", "url"]

    agent = fresh()
    agent_csrf = login(agent, org, "agent")
    assert agent.get(path).status_code == 403
    assert agent.post(path, data={**form, "csrf_token": agent_csrf, "name": "altro"}).status_code == 403


def test_another_tenants_or_channels_inbox_is_not_found(client, org, other_org, sandbox, served, fresh):
    inbox, _control = _setup(client, org, sandbox, served)
    stranger = fresh()
    login(stranger, other_org, "admin")
    assert stranger.get(f"/admin/inboxes/{inbox['id']}/whatsapp-templates").status_code == 404
    api_inbox = client.post(
        "/api/v1/inboxes",
        headers=org.headers(),
        json={"name": "API", "channel": "api", "settings": {}, "secrets": {}},
    ).json()
    owner = fresh()
    login(owner, org, "owner")
    assert owner.get(f"/admin/inboxes/{api_inbox['id']}/whatsapp-templates").status_code == 404


def test_the_draft_rules_name_their_field():
    def field(**changes) -> str | None:
        draft = authoring.TemplateDraft(
            **{"name": "ok_name", "category": "utility", "language": "en", "body": "Hi {{1}}", "examples": ["name"]}
            | changes
        )
        try:
            authoring.build(draft)
        except InvalidInput as exc:
            return exc.field
        return None

    assert field() is None
    assert field(name="Bad Name") == "name"
    assert field(category="promo") == "category"
    assert field(language="fr") == "language"
    assert field(body="Hi {{2}}") == "body"
    assert field(examples=[]) == "examples"
    assert field(header="x" * 61) == "header"
    assert field(footer="with {{1}}") == "footer"
    assert field(buttons=[authoring.ButtonDraft("phone_number", "Call", "123")]) == "button_value_1"
    built = authoring.build(
        authoring.TemplateDraft("ok_name", "marketing", "it", "Ciao {{1}}", ["nome"], "Titolo", "Fine")
    )
    assert built["category"] == "MARKETING"
    assert [c["type"] for c in built["components"]] == ["HEADER", "BODY", "FOOTER"]
    assert built["components"][1]["example"] == {"body_text": [["nome"]]}
