"""The desktop's collaboration tools in a real browser (Chromium, against `raccordo serve`):
the collision indicator, the "/" template picker, @mention toasts, transfer, and resolving with
a wrap-up code that the conversation's queue requires."""

from __future__ import annotations

from tests.support.desktop import open_desktop


def test_collision_template_picker_mention_transfer_and_wrap_up(browser, desk):
    template = desk.api(
        "POST",
        "/api/v1/templates",
        json={
            "name": "Saluto",
            "shortcut": "saluto",
            "body": "Ciao {{contact.first_name}}, sono {{agent.name}}.{{contact.vip}}",
        },
    )
    code = desk.api("POST", "/api/v1/wrap-up-codes", json={"code": "vendita", "label": "Vendita conclusa"})
    queue = desk.api("POST", "/api/v1/queues", json={"name": "Vendite", "requires_wrap_up": True})
    assert template.status_code == code.status_code == queue.status_code == 201, (template.text, code.text, queue.text)
    desk.customer_says("Vorrei comprare il modello grande", "giulia@example.com")
    conversation_id = next(
        c["id"] for c in desk.api("GET", "/api/v1/conversations", params={"unassigned": "true"}).json()["items"]
    )

    owner = open_desktop(browser, desk, f"owner@{desk.slug}.it", f"/conversations/{conversation_id}")
    agent = open_desktop(browser, desk, f"anna@{desk.slug}.it", f"/conversations/{conversation_id}")
    # Collision: each sees the other on the conversation; typing shows too.
    owner.locator("#collision", has_text="Anna Agente").wait_for(timeout=10000)
    assert "Stanno guardando anche" in owner.locator("#collision").inner_text()
    agent.locator("#collision", has_text="Olga Titolare").wait_for(timeout=10000)
    # The "/" picker: filtered by what follows the slash, Enter inserts the rendered text.
    agent.click("#reply-text")
    agent.keyboard.type("/sal")
    agent.locator("#template-picker li[data-shortcut=saluto]").wait_for(timeout=10000)
    owner.locator("#collision", has_text="sta scrivendo").wait_for(timeout=10000)
    agent.keyboard.press("Enter")
    assert agent.input_value("#reply-text") == "Ciao Giulia, sono Anna Agente."
    assert agent.locator("#template-picker").is_hidden()
    agent.click("button[data-action=reply]")
    agent.locator("#thread .message.outbound", has_text="Ciao Giulia").wait_for(timeout=10000)
    # An @mention in the owner's note becomes a toast on the agent's desktop.
    owner.fill("#reply-text", "@Anna Agente segui tu il preventivo?")
    owner.click("button[data-action=note]")
    toast = agent.locator("#toasts .toast")
    toast.wait_for(timeout=10000)
    assert "Olga Titolare mentioned you" in toast.inner_text() and "preventivo" in toast.inner_text()
    # Transfer to the sales queue with a note.
    owner.click("summary[data-action=transfer-open]")
    owner.select_option(f"#transfer-target-{conversation_id}", f"queue:{queue.json()['id']}")
    owner.fill(f"#transfer-note-{conversation_id}", "Passo alle vendite")
    owner.click("button[data-action=transfer]")
    owner.locator("#thread .message.note", has_text="Passo alle vendite").wait_for(timeout=10000)
    # The queue requires a wrap-up code: the resolve action asks for it.
    # (The thread can show the note, through the live event, before the transfer's own answer
    # has replaced the head: wait for the head that knows about the queue.)
    wrap_up = owner.locator(f"#wrap-up-{conversation_id}[required]")
    wrap_up.wait_for(timeout=10000)
    wrap_up.select_option("vendita")
    owner.screenshot(path=str(desk.shots / "desktop-wrap-up.png"))
    owner.click("button[data-action=resolved]")
    owner.locator("#conversation-status.status-resolved").wait_for(timeout=10000)
    conversation = desk.api("GET", f"/api/v1/conversations/{conversation_id}").json()
    assert conversation["status"] == "resolved" and conversation["wrap_up_code"] == "vendita"
    kinds = {
        e["kind"]: e["data"] for e in desk.api("GET", f"/api/v1/conversations/{conversation_id}/routing-events").json()
    }
    assert "transferred" in kinds and kinds["resolved"]["wrap_up_code"] == "vendita"
    assert not owner.errors and not agent.errors, owner.errors + agent.errors  # type: ignore[attr-defined]
    agent.context.close()
    owner.context.close()
