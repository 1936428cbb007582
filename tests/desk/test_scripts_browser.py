"""Guided scripts in a real browser (Chromium against `raccordo serve`): an admin designs a script with
a branch in the form designer, an agent runs it beside a conversation, the answer appears in the
customer panel, and a new version saved meanwhile reaches the agent's panel live."""

from __future__ import annotations

from tests.support.desktop import open_desktop


def test_admin_designs_a_branching_script_and_the_agent_runs_it(browser, desk):
    admin = open_desktop(browser, desk, f"owner@{desk.slug}.it", "/admin/scripts")
    admin.fill("#f-name", "Verifica difetto")
    admin.fill("#s0-id", "difetto")
    admin.fill("#s0-prompt", "Buongiorno {{contact.first_name}}: il prodotto è difettoso?")
    admin.select_option("#s0-answer", "yes_no")
    admin.fill("#s0-target", "conversation.difetto")
    for _ in range(2):
        admin.click("button[name=op][value=add]")
        admin.wait_for_load_state()
    admin.fill("#s1-id", "foto")
    admin.fill("#s1-prompt", "Chieda le foto del difetto.")
    admin.fill("#s2-id", "fine")
    admin.fill("#s2-prompt", "Grazie, a presto.")
    admin.click("button[name=op][value=refresh]")  # the ids above now appear in the selects
    admin.select_option("#s0-next", "fine")
    admin.select_option("#s0-branch-0", "foto")  # yes → foto
    admin.select_option("#s1-next", "fine")
    admin.click("button[name=op][value=refresh]")
    preview = admin.locator(".script-preview").inner_text()
    assert "sì → foto" in preview and "no → fine" in preview, preview
    admin.screenshot(path=str(desk.shots / "desktop-script-designer.png"), full_page=True)
    admin.locator("button[name=op][value=save]").first.click()
    admin.wait_for_url("**/admin/scripts/*?saved=1")
    script_id = int(admin.url.split("/admin/scripts/")[1].split("?")[0])

    desk.customer_says("Il frullatore arrivato ieri non si accende", "lucia.verdi@example.com")
    conversation_id = desk.api("GET", "/api/v1/conversations").json()["items"][0]["id"]
    agent = open_desktop(browser, desk, f"anna@{desk.slug}.it", f"/conversations/{conversation_id}")
    panel = agent.locator("#script-panel")
    panel.locator("#script-choose").wait_for(timeout=10000)
    agent.select_option("#script-choose", str(script_id))
    panel.locator(".script-start button").click()
    panel.locator(".script-prompt", has_text="Buongiorno Lucia.verdi").wait_for(timeout=10000)
    panel.locator("input[name=value][value=yes]").check()
    panel.locator(".script-step-form button.primary").click()
    panel.locator(".script-prompt", has_text="Chieda le foto").wait_for(timeout=10000)  # the branch
    # The answer is in the customer panel's attributes, without a reload.
    agent.locator("#customer-attributes", has_text="difetto").wait_for(timeout=10000)
    assert desk.api("GET", f"/api/v1/conversations/{conversation_id}").json()["custom_attributes"]["difetto"] is True

    # The admin rewords the step the agent is on: the agent's panel shows the new version live.
    admin.fill("#s1-prompt", "Chieda due foto del difetto, da vicino.")
    admin.locator("button[name=op][value=save]").first.click()
    admin.wait_for_url("**/admin/scripts/*?saved=1")
    panel.locator(".script-prompt", has_text="due foto").wait_for(timeout=15000)
    assert panel.locator(".badge.updated").count() == 1
    agent.screenshot(path=str(desk.shots / "desktop-script-runner.png"))
    panel.locator(".script-step-form button.primary").click()
    panel.locator(".script-prompt", has_text="Grazie, a presto").wait_for(timeout=10000)
    panel.locator(".script-step-form button.primary").click()
    panel.locator(".script-run.finished").wait_for(timeout=10000)
    runs = desk.api("GET", f"/api/v1/conversations/{conversation_id}/script-runs").json()
    assert [r["status"] for r in runs] == ["completed"] and runs[0]["version"] == 2
    assert not agent.errors, agent.errors  # type: ignore[attr-defined]
    assert not admin.errors, admin.errors  # type: ignore[attr-defined]
    agent.context.close()
    admin.context.close()
