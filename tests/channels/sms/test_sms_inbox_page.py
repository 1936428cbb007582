"""The SMS inbox's admin page: the declared form in Italian (provider, sender, AGCOM alias reference,
segment maximum, keywords), a field-level error for a bad sender, the inbox created with its webhook
URL to paste, and the secrets never shown back."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.pages import login, set_language


def test_the_sms_inbox_form_creates_an_inbox(client, rt, org):
    set_language(rt, org.users["admin"], "it")
    browser = TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)
    csrf = login(browser, org, "admin")
    page = browser.get("/admin/inboxes?channel=sms")
    assert page.status_code == 200
    for label in ("Fornitore", "Mittente (numero o alias)", "Riferimento del registro alias AGCOM", "parti SMS"):
        assert label in page.text, label
    form = {
        "csrf_token": csrf,
        "channel": "sms",
        "name": "SMS negozio",
        "provider": "twilio",
        "sender": "Negozio_Online!",
        "max_segments": "4",
        "opt_out_keywords": "BASTA OFFERTE",
        "twilio_account_sid": "AC" + "9" * 32,
        "twilio_auth_token": "Tk-sms-typed-secret",
    }
    bad = browser.post("/admin/inboxes", data=form)
    assert bad.status_code == 422 and 'id="sender-error"' in bad.text
    created = browser.post("/admin/inboxes", data=form | {"sender": "Negozio", "alias_registration": "AGCOM-123"})
    assert created.status_code == 303, created.text  # nothing to show once: on to the inbox's page
    shown = browser.get(created.headers["location"])
    assert shown.status_code == 200 and "/api/v1/channels/sms/" in shown.text  # the webhook URL to paste at Twilio
    assert "Tk-sms-typed-secret" not in shown.text
    inboxes = client.get("/api/v1/inboxes", headers=org.headers()).json()
    (inbox,) = [i for i in inboxes if i["name"] == "SMS negozio"]
    assert inbox["settings"]["alias_registration"] == "AGCOM-123" and inbox["settings"]["max_segments"] == 4
    assert inbox["settings"]["opt_out_keywords"] == ["BASTA OFFERTE"]
