"""The desk's header over HTTP: the agent's load against capacity per channel, the shortcuts dialog and
the header controls in English and Italian, the admin links grouped in one menu, the desk scripts served."""

from __future__ import annotations

import re
import uuid

from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.pages import login, set_language


def load_of(page: str, channel: str) -> tuple[int, int] | None:
    found = re.search(rf'data-channel="{channel}" data-load="(\d+)" data-capacity="(\d+)"', page)
    return (int(found.group(1)), int(found.group(2))) if found else None


def test_header_shows_load_over_capacity_per_channel_as_routing_counts_it(fresh, org, client):
    inbox = create_api_inbox(client, org.headers("admin"))
    set_capacity = client.put(
        f"/api/v1/users/{org.users['agent']}/routing", json={"capacity": {"api": 2}}, headers=org.headers("admin")
    )
    assert set_capacity.status_code == 200, set_capacity.text
    browser = fresh()
    login(browser, org, "agent")
    first = browser.get("/presence").text
    assert load_of(first, "api") == (0, 2)
    assert load_of(first, "widget") is None, "only channels the tenant has an inbox on"
    assert "API 0/2" in first and "API: 0 of 2" in first
    # Two conversations assigned to the agent: 2/2 (full).
    ids = []
    for _ in range(2):
        assert (
            post_inbound(
                client, inbox, customer_message(f"m-{uuid.uuid4().hex}", email=f"c-{uuid.uuid4().hex[:6]}@example.com")
            ).status_code
            == 200
        )
        ids.append(client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]["id"])
    for conversation_id in ids:
        assigned = client.patch(
            f"/api/v1/conversations/{conversation_id}", json={"assignee_id": org.users["agent"]}, headers=org.headers()
        )
        assert assigned.status_code == 200, assigned.text
    full = browser.get("/presence").text
    assert load_of(full, "api") == (2, 2) and 'class="full" data-channel="api"' in full
    # Resolving frees capacity; pending still counts, as in routing.
    client.patch(f"/api/v1/conversations/{ids[0]}", json={"status": "resolved"}, headers=org.headers())
    client.patch(f"/api/v1/conversations/{ids[1]}", json={"status": "pending"}, headers=org.headers())
    assert load_of(browser.get("/presence").text, "api") == (1, 2)


def test_shortcuts_dialog_and_header_controls_in_english_and_italian(fresh, org, rt, client):
    agent = fresh()
    login(agent, org, "agent")
    page = agent.get("/inbox").text
    assert '<dialog id="shortcuts-dialog"' in page and "Keyboard shortcuts" in page and "Accept the offer" in page
    assert 'id="sound-toggle"' in page and "Enable notifications" in page
    assert "ui.desk." not in page, "every desk string is translated"
    assert 'id="admin-menu"' not in page and "Go to the live view" not in page, (
        "agents have neither admin pages nor the live view"
    )
    set_language(rt, org.users["admin"], "it")
    admin = fresh()
    login(admin, org, "admin")
    italian = admin.get("/inbox").text
    assert (
        "Scorciatoie da tastiera" in italian
        and "Accetta l&#39;offerta" in italian
        and "Attiva notifiche" in italian
        and "Vai al monitor code" in italian
    )
    assert "ui.desk." not in italian
    menu = re.search(r'<details class="nav-menu" id="admin-menu">(.*?)</details>', italian, re.S)
    assert menu and 'href="/admin/rules"' in menu.group(1) and 'href="/admin/sla"' in menu.group(1)
    on_rules = admin.get("/admin/rules").text
    assert re.search(r'<summary class="current">Amministrazione</summary>', on_rules)
    for name in ("desk-alerts.js", "desk-shortcuts.js", "desk.css"):
        served = client.get(f"/desktop/static/{name}")
        assert served.status_code == 200 and len(served.text) > 500, name
