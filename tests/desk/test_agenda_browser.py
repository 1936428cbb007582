"""The agenda in a real browser (Playwright + Debian's Chromium against `raccordo serve`, worker
polling every 0.2 s): the agent schedules a callback a few seconds ahead from the conversation,
resolves the conversation, sees the callback on /agenda, and at its time gets the toast
"Callback due: <contact>", the item turns due and the conversation is back in their inbox.
Screenshots: agenda-*.png under the pytest tmp dir."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.desktop import Desk, open_desktop

LONG = 20000


def test_schedule_a_callback_and_see_it_come_back_at_its_time(browser, desk: Desk):
    email = f"rita-{uuid.uuid4().hex[:6]}@example.com"
    desk.customer_says("Potete richiamarmi più tardi?", email)
    conversation = desk.api("GET", "/api/v1/conversations", params={"limit": 50}).json()["items"]
    contacts = desk.api("GET", "/api/v1/contacts", params={"q": email}).json()
    conversation_id = next(c["id"] for c in conversation if c["contact_id"] == contacts[0]["id"])
    name = contacts[0]["name"]
    assert (
        desk.api("PATCH", f"/api/v1/conversations/{conversation_id}", json={"assignee_id": desk.agent_id}).status_code
        == 200
    )

    page = open_desktop(browser, desk, f"anna@{desk.slug}.it", f"/conversations/{conversation_id}")
    panel = page.locator("#agenda-panel")
    panel.locator("summary", has_text="Schedule callback / follow-up").click()
    due = datetime.now(ZoneInfo("Europe/Rome")) + timedelta(seconds=12)
    page.fill("#agenda-due", due.strftime("%Y-%m-%dT%H:%M:%S"))
    page.select_option("#agenda-channel", label=f"API · {desk.inboxes[0]['name']}")
    page.fill("#agenda-note", "Richiamare per il preventivo")
    panel.get_by_role("button", name="Schedule").click()
    page.locator("#agenda-items .agenda-item.status-scheduled", has_text="Richiamare per il preventivo").wait_for(
        timeout=LONG
    )
    page.screenshot(path=str(desk.shots / "agenda-scheduled.png"))
    # The agent resolves the conversation and looks at the agenda.
    page.click("#conversation-head button[data-action=resolved]")
    page.locator("#conversation-head button[data-action=open]").wait_for(timeout=LONG)
    page.goto(desk.base + "/agenda")
    page.wait_for_selector("body[data-ws=open]", timeout=LONG)
    upcoming = page.locator("#agenda-list .agenda-item.status-scheduled", has_text=name)
    upcoming.wait_for(timeout=LONG)
    page.screenshot(path=str(desk.shots / "agenda-page.png"))
    # At its time: the toast, and the item turns due (live, without reloading).
    toast = page.locator(".agenda-toast", has_text=f"Callback due: {name}")
    toast.wait_for(timeout=45000)
    page.locator("#agenda-list .agenda-item.status-due", has_text=name).wait_for(timeout=LONG)
    page.screenshot(path=str(desk.shots / "agenda-due.png"))
    toast.get_by_role("link", name="Open the conversation").click()
    page.wait_for_url(f"**/conversations/{conversation_id}", timeout=LONG)
    page.locator(
        f"#conversation-list [data-conversation-id='{conversation_id}'], "
        f"#conversation-list a[href*='/conversations/{conversation_id}']"
    ).first.wait_for(timeout=LONG)
    page.screenshot(path=str(desk.shots / "agenda-back-in-inbox.png"))
    conversation = desk.api("GET", f"/api/v1/conversations/{conversation_id}").json()
    assert (conversation["status"], conversation["assignee_id"]) == ("open", desk.agent_id)
    items = desk.api("GET", f"/api/v1/conversations/{conversation_id}/agenda").json()["items"]
    assert [(i["status"], i["outcome"]) for i in items] == [("due", "assigned")]
    assert not page.errors, page.errors  # type: ignore[attr-defined]
