"""Edge values sent to what the desktop added answer a precise 4xx, never a 500: dates at the
ends of the calendar, ids beyond the id column, digits that are not ASCII, fields sent twice.
Found by reviewing the change; each case was a 500 before."""

from __future__ import annotations

import re

from tests.support.orgs import make_org
from tests.support.pages import a_conversation, login
from tests.support.widget import ORIGIN, open_session, widget_inbox


def _field(response, status: int = 422) -> str:
    assert response.status_code == status, response.text
    return response.json()["errors"][0]["field"]


def test_agenda_dates_at_the_ends_of_the_calendar(client, org):
    conversation_id, _ = a_conversation(client, org)
    headers = org.headers("agent")
    assert _field(client.get("/api/v1/agenda", params={"day": "9999-12-31"}, headers=headers)) == "day"
    assert _field(client.get("/api/v1/agenda", params={"day": "0001-01-01"}, headers=headers)) == "day"
    far = client.post(
        "/api/v1/agenda",
        json={"conversation_id": conversation_id, "due_at": "9999-12-31T23:59:59-14:00"},
        headers=headers,
    )
    assert _field(far) == "due_at"


def test_widget_ids_beyond_the_id_column(live):
    rt, client = live
    org = make_org(rt)
    huge = client.post(
        "/api/v1/inboxes",
        json={"name": "W", "channel": "widget", "settings": {"allowed_origins": [ORIGIN], "offline_inbox_id": 2**64}},
        headers=org.headers(),
    )
    assert _field(huge) == "settings.offline_inbox_id"
    inbox = widget_inbox(client, org)
    token = open_session(client, inbox["identifier"]).json()["visitor_token"]
    attachment = client.get(
        f"/widget/{inbox['identifier']}/attachments/{2**64}", headers={"origin": ORIGIN, "x-raccordo-visitor": token}
    )
    assert attachment.status_code == 422, attachment.text


def test_pages_refuse_odd_digits_and_repeated_fields_with_422(fresh, org, client):
    conversation_id, _ = a_conversation(client, org)
    browser = fresh()
    csrf = login(browser, org, "admin")
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    transfer = browser.post(f"/conversations/{conversation_id}/transfer", data={"target": "user:²"}, headers=hx)
    assert transfer.status_code == 422 and 'id="transfer-target' in transfer.text
    script = browser.post(f"/conversations/{conversation_id}/script/start", data={"script_id": "²"}, headers=hx)
    assert script.status_code == 422, script.text
    snooze = browser.post(
        f"/conversations/{conversation_id}/status",
        data={"status": "snoozed", "snoozed_until": "9999-12-31T23:30", "tz_offset": "120"},
        headers=hx,
    )
    assert snooze.status_code == 422, snooze.text
    designer = browser.post("/admin/scripts", data={"csrf_token": csrf, "name": "X", "steps_count": ["1", "2"]})
    assert designer.status_code == 422, designer.text
    agents = browser.post(f"/admin/agents/{org.users['agent']}", data={"csrf_token": csrf, "queue_ids": "²"})
    assert agents.status_code in (303, 422), agents.text
    assert browser.get("/inbox", params={"queue": "²"}).status_code == 200
    agenda = browser.post(
        f"/conversations/{conversation_id}/agenda",
        data={"due_at": "2030-01-01T10:00", "queue_id": "²", "channel": "inbox:²"},
        headers=hx,
    )
    assert agenda.status_code in (200, 422) and not re.search(r"Internal Server Error", agenda.text)


def test_nul_characters_are_a_clean_4xx_not_a_500(client, rt, org):
    """PostgreSQL refuses U+0000 in text (found by a 200-example schemathesis run): the client gets
    a 422 that names the character, nothing is stored, and the server goes on serving. Refused at
    the input on both databases (SQLite would store it), so both behave the same."""
    owner = org.headers()
    response = client.post("/api/v1/skills", json={"name": "in\u0000glese"}, headers=owner)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "U+0000" in response.json()["detail"]
    names = [s["name"] for s in client.get("/api/v1/skills", headers=owner).json()]
    assert "in\u0000glese" not in names
    assert client.get("/api/v1/skills", headers=owner).status_code == 200
