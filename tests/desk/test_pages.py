"""The server-rendered pages over HTTP: login and logout, the desktop and admin pages for each role,
CSRF on every form post, Italian and English, HTML escaping and the email frame, tenant scoping."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from markupsafe import escape

from raccordo.desk.pages.pages import STATUSES
from raccordo.platform.hours import DAYS
from raccordo.platform.i18n import catalog, translate
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Message
from raccordo.routing.models import RoutingQueue, Skill
from raccordo.routing.pages.admin import OUT_OF_HOURS, SLA_ACTIONS, STRATEGIES
from tests.support.pages import a_conversation, login, set_language

TEMPLATES = Path(__file__).parents[2] / "src" / "raccordo"


def test_login_page_logs_in_and_out_with_csrf(fresh, org):
    browser = fresh()
    first = browser.get("/inbox")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=%2Finbox"
    assert browser.get("/inbox", headers={"HX-Request": "true"}).headers["hx-redirect"] == "/login"
    page = browser.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9"})
    assert page.status_code == 200 and "Accedi a Raccordo" in page.text
    assert (
        "script-src 'self'" in page.headers["content-security-policy"]
        and "unsafe-eval" not in page.headers["content-security-policy"]
    )
    # A login post without the login form's token (a cross-site form) is refused.
    forged = fresh().post("/login", data={"email": org.email("agent"), "password": org.password})
    assert forged.status_code == 403 and "raccordo_session" not in forged.cookies
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    wrong = browser.post(
        "/login",
        data={"email": org.email("agent"), "password": "wrong password!!", "login_csrf": token},
        headers={"Accept-Language": "en"},
    )
    assert wrong.status_code == 401 and translate("login.failed", "en")[:20] in wrong.text
    csrf = login(browser, org, "agent")
    # Logging out is a form post too: without the token it is refused and the session stays.
    assert browser.post("/logout").status_code == 403
    assert browser.get("/inbox").status_code == 200
    out = browser.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert browser.get("/inbox").status_code == 303


def test_next_is_only_a_local_path(fresh, org):
    browser = fresh()
    page = browser.get("/login?next=https://evil.example.com/")
    assert 'name="next" value="/inbox"' in page.text
    page = browser.get("/login?next=//evil.example.com/x")
    assert 'name="next" value="/inbox"' in page.text


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin", "owner"])
def test_pages_by_role(fresh, org, role):
    browser = fresh()
    login(browser, org, role)
    inbox = browser.get("/inbox")
    assert inbox.status_code == 200
    assert (
        inbox.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in inbox.headers["content-security-policy"]
    )
    supervisor = role in ("supervisor", "admin", "owner")
    admin = role in ("admin", "owner")
    assert ('href="/live"' in inbox.text) is supervisor
    assert ('href="/admin/queues"' in inbox.text) is admin
    assert ('data-view="all"' in inbox.text) is supervisor
    for path in ("/admin/queues", "/admin/skills", "/admin/agents", "/admin/rules", "/admin/sla"):
        response = browser.get(path)
        assert response.status_code == (200 if admin else 403), path
        if not admin:
            assert "Your role cannot open this page." in response.text
    assert browser.get("/live").status_code == (200 if supervisor else 403)
    assert browser.get("/inbox?view=all").status_code == (200 if supervisor else 403)


def test_italian_and_english(fresh, org, rt):
    set_language(rt, org.users["admin"], "it")
    browser = fresh()
    login(browser, org, "admin")
    page = browser.get("/inbox").text
    assert '<html lang="it">' in page and "Esci" in page and "Non assegnate" in page and "Log out" not in page
    queues = browser.get("/admin/queues").text
    assert "Nuova coda" in queues and "Lunedì" in queues
    set_language(rt, org.users["supervisor"], "en")
    other = fresh()
    login(other, org, "supervisor")
    page = other.get("/inbox").text
    assert '<html lang="en">' in page and "Log out" in page and "Esci" not in page


def test_every_template_string_is_in_both_catalogs():
    keys = set()
    for path in TEMPLATES.rglob("*.html"):
        keys |= {k for k in re.findall(r"\bt\('([a-z_.]+)'", path.read_text(encoding="utf-8")) if not k.endswith(".")}
    keys |= (
        {f"ui.day.{d}" for d in DAYS}
        | {f"ui.inbox.view.{v}" for v in ("mine", "unassigned", "all")}
        | {f"ui.sla_action.{a}" for a in SLA_ACTIONS}
    )
    keys |= (
        {f"ui.status.{s}" for s in STATUSES}
        | {f"ui.strategy.{s}" for s in STRATEGIES}
        | {f"ui.out_of_hours.{a}" for a in OUT_OF_HOURS}
    )
    english, italian = catalog("en"), catalog("it")
    missing = sorted(k for k in keys if k not in english or k not in italian)
    assert not missing and len(keys) > 100


def test_csrf_is_required_on_every_form_post(fresh, org, rt):
    browser = fresh()
    csrf = login(browser, org, "admin")
    name = f"lingua-{uuid.uuid4().hex[:6]}"
    refused = browser.post("/admin/skills", data={"name": name})
    assert refused.status_code == 403 and "security token" in refused.text
    refused = browser.post("/admin/skills", data={"name": name}, headers={"X-CSRF-Token": "not-the-token"})
    assert refused.status_code == 403
    with unit_of_work(rt.sessions) as session:
        assert session.query(Skill).filter(Skill.tenant_id == org.tenant_id).count() == 0
    assert browser.post("/admin/skills", data={"name": name}, headers={"X-CSRF-Token": csrf}).status_code == 303
    assert browser.post("/admin/skills", data={"name": name + "x", "csrf_token": csrf}).status_code == 303
    conversation_id, _ = a_conversation(browser, org)
    for path in (
        f"/conversations/{conversation_id}/reply",
        f"/conversations/{conversation_id}/note",
        f"/conversations/{conversation_id}/status",
        "/presence",
    ):
        assert browser.post(path, data={"text": "x", "status": "resolved"}).status_code == 403, path
    with unit_of_work(rt.sessions) as session:
        assert (
            session.query(Message)
            .filter(Message.conversation_id == conversation_id, Message.direction != "inbound")
            .count()
            == 0
        )


def test_conversation_thread_reply_note_and_status(fresh, org, client):
    conversation_id, inbox_id = a_conversation(
        client, org, "<script>alert('x')</script> ciao", html="<p>Ciao <b>mondo</b></p>"
    )
    browser = fresh()
    csrf = login(browser, org, "agent")
    listing = browser.get("/inbox?view=unassigned")
    assert f'data-conversation-id="{conversation_id}"' in listing.text
    page = browser.get(f"/conversations/{conversation_id}?view=unassigned")
    assert page.status_code == 200
    # Email-like HTML only in a sandboxed frame of the isolating endpoint; never in the page.
    assert "<b>mondo</b>" not in page.text
    frame = re.search(r'<iframe class="mail-frame"[^>]*>', page.text).group(0)
    assert (
        'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
        and "allow-scripts" not in frame
        and "allow-same-origin" not in frame
    )
    assert 'src="/api/v1/messages/' in frame
    assert "<script>alert" not in page.text
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    empty = browser.post(
        f"/conversations/{conversation_id}/reply", data={"text": "  ", "inbox_id": str(inbox_id)}, headers=hx
    )
    assert empty.status_code == 422 and translate("reply.empty", "en") in empty.text
    sent = browser.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "Eccomi <b>qui</b>", "inbox_id": str(inbox_id)},
        headers=hx,
    )
    assert sent.status_code == 200 and sent.headers["hx-trigger"] == "raccordo:thread"
    note = browser.post(f"/conversations/{conversation_id}/note", data={"text": "Cliente VIP, attenzione"}, headers=hx)
    assert note.status_code == 200
    thread = browser.get(f"/conversations/{conversation_id}/thread").text
    assert (
        "Eccomi &lt;b&gt;qui&lt;/b&gt;" in thread and "Cliente VIP, attenzione" in thread and "Internal note" in thread
    )
    assert 'class="badge channel-api"' in thread
    snooze = browser.post(
        f"/conversations/{conversation_id}/status",
        data={"status": "snoozed", "snoozed_until": "2000-01-01T10:00", "tz_offset": "0"},
        headers=hx,
    )
    assert snooze.status_code == 422 and translate("conversation.snooze_needs_future", "en") in snooze.text
    resolved = browser.post(f"/conversations/{conversation_id}/status", data={"status": "resolved"}, headers=hx)
    assert resolved.status_code == 200 and 'id="conversation-status">Resolved<' in resolved.text
    assert client.get(f"/api/v1/conversations/{conversation_id}", headers=org.headers()).json()["status"] == "resolved"
    customer = browser.get(f"/conversations/{conversation_id}").text
    assert "Timeline" in customer and "Conversation opened" in customer


def test_presence_toggle_with_reason(fresh, org, client):
    browser = fresh()
    csrf = login(browser, org, "agent")
    away = browser.post(
        "/presence", data={"status": "away", "reason": "lunch"}, headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert (
        away.status_code == 200 and 'data-status="away"' in away.text and '<option value="lunch" selected>' in away.text
    )
    people = client.get("/api/v1/presence", headers=org.headers()).json()
    assert {"status": "away", "reason": "lunch"}.items() <= next(
        p for p in people if p["user_id"] == org.users["agent"]
    ).items()


def test_admin_forms_show_service_errors_next_to_the_field(fresh, org, rt):
    set_language(rt, org.users["admin"], "it")
    browser = fresh()
    csrf = login(browser, org, "admin")
    post = {"csrf_token": csrf, "name": "Fatturazione", "strategy": "longest_idle", "active": "1"}
    bad_json = browser.post("/admin/queues", data=post | {"relax": "[{after"})
    assert bad_json.status_code == 422 and 'id="relax-error"' in bad_json.text and "JSON" in bad_json.text
    bad_number = browser.post("/admin/queues", data=post | {"offer_timeout_seconds": "0"})
    assert bad_number.status_code == 422 and "Scrivi un numero intero da 1 a 3600." in bad_number.text
    bad_hours = browser.post(
        "/admin/queues", data=post | {"hours_enabled": "1", "timezone": "Europa/Roma", "hours_mon": "09:00-18:00"}
    )
    assert (
        bad_hours.status_code == 422
        and str(escape(translate("hours.timezone_unknown", "it", value="Europa/Roma"))) in bad_hours.text
    )
    created = browser.post(
        "/admin/queues",
        data=post
        | {
            "offer_timeout_seconds": "30",
            "members": [str(org.users["agent"])],
            "hours_enabled": "1",
            "timezone": "Europe/Rome",
            "hours_mon": "09:00-13:00, 14:00-18:00",
            "closed_dates": "2026-12-25",
        },
    )
    assert created.status_code == 303
    with unit_of_work(rt.sessions) as session:
        queue = session.query(RoutingQueue).filter(RoutingQueue.tenant_id == org.tenant_id).one()
        assert queue.offer_timeout_seconds == 30 and queue.business_hours["weekly"]["mon"] == [
            ["09:00", "13:00"],
            ["14:00", "18:00"],
        ]
        queue_id = queue.id
    edit = browser.get(created.headers["location"])
    assert "Salvato." in edit.text and 'value="09:00-13:00, 14:00-18:00"' in edit.text
    assert browser.post("/admin/queues", data=post).status_code == 422  # the name exists
    rule = {"csrf_token": csrf, "name": "VIP", "queue_id": str(queue_id), "priority": "5", "active": "1"}
    unknown = browser.post("/admin/rules", data=rule | {"conditions": '[{"field": "colore", "op": "eq", "value": 1}]'})
    assert unknown.status_code == 422 and 'id="conditions-error"' in unknown.text and "colore" in unknown.text
    assert "colore" in re.search(r'<textarea id="f-conditions"[^>]*>([^<]*)<', unknown.text).group(
        1
    )  # what was typed stays
    saved = browser.post(
        "/admin/rules", data=rule | {"conditions": '[{"field": "contact.vip", "op": "eq", "value": true}]'}
    )
    assert saved.status_code == 303
    no_target = browser.post("/admin/sla", data={"csrf_token": csrf, "name": "Standard", "active": "1"})
    assert no_target.status_code == 422 and translate("sla.no_target", "it") in no_target.text
    assert (
        browser.post(
            "/admin/sla",
            data={
                "csrf_token": csrf,
                "name": "Standard",
                "first_response_seconds": "600",
                "action:raise_priority": "1",
                "active": "1",
            },
        ).status_code
        == 303
    )
    skill = browser.post("/admin/skills", data={"csrf_token": csrf, "name": "inglese"})
    assert skill.status_code == 303
    agent = browser.post(
        f"/admin/agents/{org.users['agent']}",
        data={"csrf_token": csrf, "skill:inglese": "3", "capacity:api": "2", "queue_ids": str(queue_id)},
    )
    assert agent.status_code == 303
    too_many = browser.post(f"/admin/agents/{org.users['agent']}", data={"csrf_token": csrf, "capacity:api": "500"})
    assert too_many.status_code == 422 and "Scrivi un numero intero da 0 a 100." in too_many.text
    agents = browser.get("/admin/agents").text
    assert "inglese 3" in agents and "Fatturazione" in agents
    live = browser.get("/live")
    assert live.status_code == 200 and "Fatturazione" in live.text


def test_page_routes_are_tenant_scoped(fresh, org, other_org, client):
    theirs, _ = a_conversation(client, other_org)
    with unit_of_work(client.app.state.runtime.sessions) as session:
        queue = RoutingQueue(tenant_id=other_org.tenant_id, name="Loro")
        session.add(queue)
        session.flush()
        queue_id = queue.id
    browser = fresh()
    csrf = login(browser, org, "owner")
    hx = {"X-CSRF-Token": csrf}
    for path in (
        f"/conversations/{theirs}",
        f"/conversations/{theirs}/thread",
        f"/conversations/{theirs}/head",
        f"/admin/queues/{queue_id}",
        f"/admin/agents/{other_org.users['agent']}",
    ):
        response = browser.get(path)
        assert response.status_code == 404 and "text/html" in response.headers["content-type"], path
    for path in (
        f"/conversations/{theirs}/reply",
        f"/conversations/{theirs}/note",
        f"/conversations/{theirs}/status",
        f"/admin/queues/{queue_id}",
        f"/admin/agents/{other_org.users['agent']}",
    ):
        assert (
            browser.post(path, data={"text": "x", "status": "resolved", "name": "x"}, headers=hx).status_code == 404
        ), path
    assert f'data-conversation-id="{theirs}"' not in browser.get("/inbox?view=all&status=any").text
    assert (
        client.get(f"/api/v1/conversations/{theirs}/messages", headers=other_org.headers()).json()[-1]["direction"]
        == "inbound"
    )


def test_inbox_filters_by_priority_and_label(fresh, org, client):
    urgent, _ = a_conversation(client, org, "Urgente")
    labelled, _ = a_conversation(client, org, "Con etichetta")
    plain, _ = a_conversation(client, org, "Normale")
    assert (
        client.patch(f"/api/v1/conversations/{urgent}", json={"priority": "urgent"}, headers=org.headers()).status_code
        == 200
    )
    assert (
        client.patch(
            f"/api/v1/conversations/{labelled}", json={"labels": ["Rimborso"]}, headers=org.headers()
        ).status_code
        == 200
    )
    browser = fresh()
    login(browser, org, "supervisor")

    def listed(query: str) -> set[int]:
        page = browser.get(f"/inbox/list?view=all&status=any&{query}")
        assert page.status_code == 200
        return {int(i) for i in re.findall(r'data-conversation-id="(\d+)"', page.text)} & {urgent, labelled, plain}

    assert listed("") == {urgent, labelled, plain}
    assert listed("priority=urgent") == {urgent}
    assert listed("label=rimborso") == {labelled}, "labels are matched as stored: lower-case"
    assert listed("priority=bogus") == {urgent, labelled, plain}, "an unknown priority is ignored, not an error"
    page = browser.get("/inbox?view=all&priority=urgent").text
    assert 'id="filter-priority"' in page and '<option value="urgent" selected>' in page


def test_the_composer_offers_only_inboxes_that_can_send_and_picks_one_that_reaches_the_customer(fresh, org, client, rt):
    """A history-only inbox (a channel without a module: data imported from a retired system) is not offered
    (listed disabled, with why); when it was the customer's last, the default is an inbox that can reach them."""
    import secrets as _secrets

    from raccordo.channels.models import Inbox
    from raccordo.record.models import Conversation as ConversationRow

    conversation_id, api_inbox = a_conversation(client, org)
    with unit_of_work(rt.sessions) as session:
        history = Inbox(
            tenant_id=org.tenant_id,
            name="Piccione viaggiatore",
            channel="carrier_pigeon",
            identifier=_secrets.token_urlsafe(12),
            settings={},
            business_hours={},
        )
        session.add(history)
        session.flush()
        session.get(ConversationRow, conversation_id).last_inbox_id = history.id
        # An API inbox delivers through its callback URL (without one it is never offered).
        session.get(Inbox, api_inbox).settings = {"callback_url": "http://127.0.0.1:9/hook"}
    browser = fresh()
    login(browser, org, "agent")
    page = browser.get(f"/conversations/{conversation_id}").text
    options = re.findall(r'<option value="(\d+)"( selected)?( disabled)?[^>]*data-rules', page)
    offered = [(value, chosen) for value, chosen, disabled in options if not disabled]
    assert offered and str(history.id) not in {value for value, _ in offered}
    assert [value for value, chosen in offered if chosen] == [str(api_inbox)], options
    # It is listed, disabled, with the reason (channels/domain/reach.py).
    shown = re.search(rf'<option value="{history.id}" disabled[^>]*>([^<]+)</option>', page)
    assert shown and "has no way to send" in shown.group(1)
