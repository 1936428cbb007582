"""The composer and the customer panel in a real browser (Chromium against `raccordo serve`): the
channel's limit on the counter, a file attached and sent, an emoji picked from the keyboard, the
@ autocomplete inserting a colleague who gets the mention toast, and a merge from the panel.
Screenshots: composer-*.png in the desk fixture's directory."""

from __future__ import annotations

import uuid

from tests.a11y import assert_accessible
from tests.support.desktop import open_desktop


def test_attach_emoji_mention_and_merge(browser, desk, tmp_path):
    customer = f"lucia.{uuid.uuid4().hex[:6]}@example.com"
    desk.customer_says("Vi mando la foto del pacco rotto?", customer)
    conversation = next(
        c
        for c in desk.api("GET", "/api/v1/conversations", params={"status": "open"}).json()["items"]
        if c["last_channel"] == "api"
    )
    conversation_id, contact_id = conversation["id"], conversation["contact_id"]
    name = desk.api("GET", f"/api/v1/contacts/{contact_id}").json()["name"]
    # A second record of the same customer, by phone: a merge suggestion (same name).
    twin = desk.api(
        "POST", "/api/v1/contacts", json={"name": name, "identities": [{"kind": "phone", "value": "+39 347 555 0101"}]}
    )
    assert twin.status_code == 201, twin.text

    owner = open_desktop(browser, desk, f"owner@{desk.slug}.it", f"/conversations/{conversation_id}")
    agent = open_desktop(browser, desk, f"anna@{desk.slug}.it", f"/conversations/{conversation_id}")
    # The counter shows the API channel's limit; the attach button its limits.
    counter = owner.locator("#composer-counter")
    owner.fill("#reply-text", "Grazie, ")
    assert counter.inner_text() == "8 / 100000 caratteri"
    assert "Fino a 20 file" in owner.locator("#attach-reason").inner_text()
    # Files: picked, shown with their size, one removed again.
    photo = tmp_path / "pacco.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 2048)
    extra = tmp_path / "nota.txt"
    extra.write_text("da togliere")
    owner.set_input_files("#composer-files", [str(photo), str(extra)])
    listed = owner.locator("#composer-attachments li")
    listed.nth(1).wait_for(timeout=10000)
    assert "pacco.png" in listed.nth(0).inner_text() and "KB" in listed.nth(0).inner_text()
    owner.click("#composer-attachments li[data-filename='nota.txt'] button")
    assert listed.count() == 1
    # Emoji from the keyboard: search in Italian, arrow down to the first match, Enter inserts it at the cursor.
    owner.click("#emoji-button")
    owner.locator("#emoji-search").wait_for(timeout=10000)
    owner.keyboard.type("pacco")
    owner.locator("#emoji-grid button[data-emoji='📦']").wait_for(timeout=10000)
    owner.keyboard.press("ArrowDown")
    owner.keyboard.press("Enter")
    assert owner.input_value("#reply-text") == "Grazie, 📦"
    assert owner.locator("#emoji-panel").is_hidden()
    assert counter.inner_text() == "9 / 100000 caratteri"  # one character, as the server counts it
    owner.screenshot(path=str(desk.shots / "composer-attach-emoji.png"))
    assert_accessible(owner, "composer with a file (it)", include="#composer")
    owner.click("button[data-action=reply]")
    sent = owner.locator("#thread .message.outbound", has_text="Grazie, 📦")
    sent.wait_for(timeout=10000)
    assert sent.locator(".attachments a", has_text="pacco.png").count() == 1
    assert owner.locator("#composer-attachments li").count() == 0
    outbound = [
        m
        for m in desk.api("GET", f"/api/v1/conversations/{conversation_id}/messages").json()
        if m["direction"] == "outbound"
    ][-1]
    assert [(a["filename"], a["size"]) for a in outbound["attachments"]] == [("pacco.png", 2056)]

    # @ in an internal note: the colleague list, filtered as typed; Enter inserts; the colleague gets a toast.
    owner.check("#composer-mode-note")
    owner.click("#reply-text")
    owner.keyboard.type("@an")
    option = owner.locator("#mention-picker li[role=option]", has_text="Anna Agente")
    option.wait_for(timeout=10000)
    assert owner.locator("#mention-picker li[role=option]").count() == 1
    owner.screenshot(path=str(desk.shots / "composer-mention.png"))
    owner.keyboard.press("Enter")
    owner.keyboard.type("ci pensi tu al reso?")
    assert owner.input_value("#reply-text") == "@Anna Agente ci pensi tu al reso?"
    owner.click("button[data-action=note]")
    toast = agent.locator("#toasts .toast")
    toast.wait_for(timeout=10000)
    assert "Olga Titolare" in toast.inner_text() and "reso" in toast.inner_text()

    # The agent sees the suggestion but may not merge; the owner merges after confirming.
    agent.reload()
    candidate = agent.locator(".merge-candidate")
    candidate.wait_for(timeout=10000)
    assert candidate.locator("button[data-action=merge]").is_disabled()
    owner.reload()
    owner.locator(".merge-candidate").wait_for(timeout=10000)
    assert "stesso nome" in owner.locator(".merge-candidate").inner_text()
    assert_accessible(owner, "customer panel with a merge suggestion (it)", include="#customer-panel")
    owner.once("dialog", lambda dialog: dialog.accept())
    owner.click(".merge-candidate button[data-action=merge]")
    owner.locator("#customer-panel > ul.identities li", has_text="+393475550101").wait_for(timeout=10000)
    assert owner.locator(".merge-candidate").count() == 0
    owner.screenshot(path=str(desk.shots / "composer-merged.png"))
    assert desk.api("GET", f"/api/v1/contacts/{twin.json()['id']}").json()["id"] == contact_id
    assert not owner.errors and not agent.errors, owner.errors + agent.errors  # type: ignore[attr-defined]
    agent.context.close()
    owner.context.close()
