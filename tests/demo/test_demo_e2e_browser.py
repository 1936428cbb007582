"""The issue's end-to-end scenarios on the demo data: `raccordo demo` is started as a user
would start it (README's first command, on its own port and data folder), and Playwright drives
Debian's Chromium through the desktop as the demo's admin and agents.

Screenshots are test artifacts: they are written to $RACCORDO_TEST_ARTIFACTS (default
``test-artifacts/`` at the repository root, ignored by git) under ``e2e/``, one per step, so a
failed CI run can be looked at afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiosmtpd.controller import Controller

from raccordo.channels import signing
from raccordo.demo.seed import DEMO_PASSWORD
from tests.mailserver import free_port
from tests.support.desktop import OBSERVE, RACCORDO

ARTIFACTS = (
    Path(os.environ.get("RACCORDO_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts") / "e2e"
)


class _Recorder:
    """The SMTP peer the demo's email inbox is pointed at: it keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@dataclass
class Demo:
    base: str
    token: str
    logins: dict[str, str]  # name -> email
    smtp: _Recorder
    smtp_port: int
    shots: list[Path] = field(default_factory=list)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, self.base + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=15, **kwargs
        )

    def user_id(self, name: str) -> int:
        return next(u["id"] for u in self.api("GET", "/api/v1/users").json() if u["name"] == name)

    def shot(self, page: Any, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        self.shots.append(path)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("demo-e2e")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # this run's screenshots only
    port = free_port()
    env = {
        **os.environ,
        "RACCORDO_DATA_DIR": str(data),
        "RACCORDO_DATABASE_URL": "",
        "RACCORDO_PORT": str(port),
        "RACCORDO_SECRET_KEY": "demo-e2e",
        "RACCORDO_DELIVERY_POLL_SECONDS": "0.2",
        "RACCORDO_WORKER_POLL_SECONDS": "0.2",
        "RACCORDO_EMAIL_POLLING": "false",
        "RACCORDO_WS_HEARTBEAT_SECONDS": "5",
    }
    log = data / "demo.log"
    process = subprocess.Popen([RACCORDO, "demo"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    recorder = _Recorder()
    smtp_port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        deadline = time.monotonic() + 240  # loading 500 conversations takes a while on a busy machine
        while True:
            if process.poll() is not None:
                pytest.fail("raccordo demo exited: " + log.read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("raccordo demo did not start: " + log.read_text())
            time.sleep(0.3)
        printed = log.read_text()
        # What the README promises the command prints: the URL and the logins.
        assert f"Raccordo demo on http://127.0.0.1:{port}" in printed or "Raccordo demo on" in printed, printed
        logins = {}
        for role, email in re.findall(
            r"^\s+(owner|admin|supervisor|agent)\s+(\S+@\S+)\s+password: " + re.escape(DEMO_PASSWORD), printed, re.M
        ):
            logins[email] = role
        assert list(logins.values()).count("agent") == 8, printed
        # The command started the provider sandbox and told it the WhatsApp inbox's number: its customer
        # phone page (printed with the logins) offers that number.
        phone = re.search(r"customer phone: (\S+)\s+\(business number (\d+)\)", printed)
        assert phone, printed
        page = httpx.get(phone.group(1), timeout=10)
        assert page.status_code == 200 and phone.group(2) in page.text, page.text
        # Messenger and Instagram too: one customer page for both, each line naming its page or account.
        for channel, what in (("Messenger", "page"), ("Instagram", "account")):
            line = re.search(rf"{channel} is live too: (\S+)\s+\({what} (\d+)\)", printed)
            assert line, printed
            meta = httpx.get(line.group(1), timeout=10)
            assert meta.status_code == 200 and line.group(2) in meta.text, meta.text
        owner = next(email for email, role in logins.items() if role == "owner")
        with httpx.Client(base_url=base) as http:
            login = http.post("/api/v1/auth/login", json={"email": owner, "password": DEMO_PASSWORD})
            assert login.status_code == 200, login.text
            token = http.post(
                "/api/v1/tokens", json={"name": "e2e"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
            ).json()["token"]
        yield Demo(base, token, logins, recorder, smtp_port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        controller.stop()


def login(browser: Any, demo: Demo, email: str, path: str = "/inbox", *, notifications: bool = False) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    if notifications:  # the person said yes to the desk's notifications; the page's ones are recorded
        context.grant_permissions(["notifications"], origin=demo.base)
        context.add_init_script(OBSERVE)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} at {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(demo.base + path)
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    page.wait_for_selector("body[data-ws=open]", timeout=15000)
    return page


def _email_of(demo: Demo, name: str) -> str:
    slug = name.lower().replace(" ", ".")
    return next(email for email in demo.logins if email.startswith(slug + "@"))


def customer_writes(demo: Demo, inbox: dict[str, Any], text: str, *, name: str, email: str) -> None:
    body = json.dumps(
        {
            "message_id": uuid.uuid4().hex,
            "text": text,
            "contact": {"name": name, "language": "en", "identities": [{"kind": "email", "value": email}]},
        }
    ).encode()
    response = httpx.post(
        f"{demo.base}/api/v1/channels/api/{inbox['identifier']}/messages",
        content=body,
        headers={"Content-Type": "application/json", **signing.sign(inbox["secrets"]["hmac_secret"], body)},
        timeout=15,
    )
    assert response.status_code == 200, response.text


def test_admin_routes_a_new_conversation_the_agent_accepts_replies_on_email_mentions_transfers_and_it_is_resolved(
    browser, demo
):
    emily, olivia = demo.user_id("Emily Carter"), demo.user_id("Olivia Bennett")
    # The demo's email inbox has an address but no server: the admin points it at a local SMTP peer.
    email_inbox = next(i for i in demo.api("GET", "/api/v1/inboxes").json() if i["channel"] == "email")
    patched = demo.api(
        "PATCH",
        f"/api/v1/inboxes/{email_inbox['id']}",
        json={
            "settings": {
                **email_inbox["settings"],
                "smtp_host": "127.0.0.1",
                "smtp_port": demo.smtp_port,
                "smtp_security": "none",
            }
        },
    )
    assert patched.status_code == 200, patched.text
    app_inbox = demo.api(
        "POST", "/api/v1/inboxes", json={"name": "App partner (E2E)", "channel": "api", "settings": {}}
    )
    assert app_inbox.status_code == 201, app_inbox.text
    app_inbox = app_inbox.json()

    # 1. The admin creates a queue (always open, wrap-up required) and a rule that sends the new app's
    #    conversations there.
    admin = login(browser, demo, _email_of(demo, "Paolo Greco"), "/admin/queues")
    admin.fill("#f-name", "Partner E2E")
    admin.check(f"input[name=members][value='{emily}']")
    admin.fill("#f-offer_timeout_seconds", "90")
    admin.check("input[name=requires_wrap_up]")
    admin.click("form.admin-form button[type=submit]")
    admin.wait_for_url("**/admin/queues/*?saved=1")
    queue_id = int(admin.url.split("/admin/queues/")[1].split("?")[0])
    admin.goto(demo.base + "/admin/rules")
    admin.fill("#f-name", "Dall'app partner")
    admin.fill("#f-position", "0")  # before the demo's catch-all rule
    admin.select_option("#f-queue", str(queue_id))
    admin.fill("#f-conditions", json.dumps([{"field": "inbox_id", "op": "eq", "value": app_inbox["id"]}]))
    admin.click("form.admin-form button[type=submit]")
    admin.wait_for_url("**/admin/rules/*?saved=1")
    demo.shot(admin, "01-admin-rule")

    # 2. Two agents at their desks: Emily is in the new queue, Olivia is not.
    agent = login(browser, demo, _email_of(demo, "Emily Carter"))
    colleague = login(browser, demo, _email_of(demo, "Olivia Bennett"), notifications=True)
    demo.shot(agent, "02-agent-inbox")
    customer_writes(
        demo,
        app_inbox,
        "Hello, my partner order P-7731 arrived damaged.",
        name="Marta Bianchi",
        email="marta.bianchi@example.com",
    )

    # 3. The offer pops up on Emily's desktop with its countdown; she accepts.
    offer = agent.locator(".offer")
    offer.wait_for(timeout=30000)
    assert 0 < int(offer.locator(".countdown").inner_text()) <= 90
    demo.shot(agent, "03-offer")
    agent.locator(".offer button.primary").click()
    agent.wait_for_url("**/conversations/*")
    conversation_id = int(agent.url.split("/conversations/")[1].split("?")[0])
    assert "P-7731" in agent.locator("#thread").inner_text()
    events = [e["kind"] for e in demo.api("GET", f"/api/v1/conversations/{conversation_id}/routing-events").json()]
    assert events[:3] == ["queued", "offered", "accepted"], events
    assert demo.api("GET", f"/api/v1/conversations/{conversation_id}").json()["assignee_id"] == emily

    # 4. A template through "/", answered by email although the customer wrote in the app.
    agent.click("#reply-text")
    agent.keyboard.type("/ciao")
    agent.locator("#template-picker li[data-shortcut=ciao]").wait_for(timeout=10000)
    agent.keyboard.press("Enter")
    greeting = agent.input_value("#reply-text")
    assert greeting.startswith("Hello Marta,") and "Bottega Digitale" in greeting, greeting
    email_option = agent.locator("#reply-inbox option", has_text=email_inbox["name"])
    agent.select_option("#reply-inbox", email_option.get_attribute("value"))
    agent.click("button[data-action=reply]")
    agent.locator("#thread .message.outbound .badge.channel-email").wait_for(timeout=15000)
    deadline = time.monotonic() + 20
    while not demo.smtp.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    assert demo.smtp.messages, "the reply did not reach the SMTP peer"
    recipients, raw = demo.smtp.messages[-1]
    sent = message_from_bytes(raw, policy=default_policy)
    assert recipients == ["marta.bianchi@example.com"] and "Hello Marta" in sent.get_body(("plain",)).get_content()
    demo.shot(agent, "04-reply-by-email")

    # 5. The demo's guided script for returns, beside the conversation: answers land in the attributes.
    run_return_script(agent, demo, conversation_id)

    # 6. A note that mentions the colleague: a toast on her desktop.
    agent.fill("#reply-text", "@Olivia Bennett can you check the partner's invoice?")
    agent.click("button[data-action=note]")
    agent.locator("#thread .message.note", has_text="partner's invoice").wait_for(timeout=10000)
    colleague.locator("#toasts .toast", has_text="partner's invoice").wait_for(timeout=15000)
    # ...and, as her desk may notify, a browser notification and the chime.
    colleague.wait_for_function(
        "window.__notifications.some(n => n.title.indexOf('mentioned you') !== -1)", timeout=10000
    )
    notification = colleague.evaluate("window.__notifications.find(n => n.title.indexOf('mentioned you') !== -1)")
    assert (
        notification["title"] == f"Emily Carter mentioned you in conversation #{conversation_id}"
        and "partner's invoice" in notification["body"]
    ), notification
    assert colleague.evaluate("window.__oscillators") > 0
    demo.shot(colleague, "06-mention-toast")

    # 7. Transfer to the colleague with a note; she resolves it with the wrap-up code the queue requires.
    agent.click("summary[data-action=transfer-open]")
    agent.select_option(f"#transfer-target-{conversation_id}", f"user:{olivia}")
    agent.fill(f"#transfer-note-{conversation_id}", "Invoice question, over to you")
    agent.click("button[data-action=transfer]")
    # Once it is hers, the agent may no longer see it (another team): the note is checked where
    # the colleague reads it, after the transfer has committed.
    deadline = time.monotonic() + 15
    while demo.api("GET", f"/api/v1/conversations/{conversation_id}").json()["assignee_id"] != olivia:
        assert time.monotonic() < deadline, "the transfer never reached the colleague"
        time.sleep(0.1)
    colleague.goto(f"{demo.base}/conversations/{conversation_id}")
    colleague.locator("#thread .message.note", has_text="over to you").wait_for(timeout=15000)
    demo.shot(agent, "07-transferred")
    wrap_up = colleague.locator(f"#wrap-up-{conversation_id}")
    wrap_up.wait_for(timeout=10000)
    assert wrap_up.get_attribute("required") is not None
    wrap_up.select_option("rimborso")
    colleague.click("button[data-action=resolved]")
    colleague.locator("#conversation-status.status-resolved").wait_for(timeout=10000)
    demo.shot(colleague, "08-resolved-with-wrap-up")
    conversation = demo.api("GET", f"/api/v1/conversations/{conversation_id}").json()
    assert conversation["status"] == "resolved" and conversation["wrap_up_code"] == "rimborso"
    kinds = [e["kind"] for e in demo.api("GET", f"/api/v1/conversations/{conversation_id}/routing-events").json()]
    assert "transferred" in kinds and kinds[-1] == "resolved", kinds
    errors = agent.errors + colleague.errors + admin.errors  # type: ignore[attr-defined]
    assert not errors, errors
    for page in (agent, colleague, admin):
        page.context.close()


def run_return_script(agent: Any, demo: Demo, conversation_id: int) -> None:
    """Runs "Reso prodotto / Product return" from the demo: greeting, order number, the "faulty"
    branch (photos? yes), delivery date, pickup (saved on the contact), closing."""
    panel = agent.locator("#script-panel")
    panel.locator("#script-choose").select_option(label="Reso prodotto / Product return")
    panel.locator("form.script-start button[type=submit]").click()

    def step(title: str) -> Any:
        form = panel.locator("form.script-step-form")
        form.locator(".script-step-title", has_text=title).wait_for(timeout=10000)
        return form

    form = step("Saluto")
    assert (
        "Marta" in form.locator(".script-prompt").inner_text()
        and "Emily" in form.locator(".script-prompt").inner_text()
    )
    form.locator("button.primary").click()
    form = step("Numero d'ordine")
    form.locator("#script-value").fill("P-7731")
    form.locator("button.primary").click()
    form = step("Motivo")
    assert "P-7731" in form.locator(".script-prompt").inner_text()
    form.locator("input[value='Difettoso / Faulty']").check()
    form.locator("button.primary").click()
    form = step("Foto del difetto")  # the branch for a faulty product
    form.locator("input[value=yes]").check()
    form.locator("button.primary").click()
    form = step("Data di consegna")
    form.locator("#script-value").fill("2026-11-20")
    form.locator("button.primary").click()
    form = step("Ritiro a domicilio")
    form.locator("input[value=yes]").check()
    form.locator("button.primary").click()
    form = step("Chiusura")
    assert "marta.bianchi@example.com" in form.locator(".script-prompt").inner_text()
    form.locator("button.primary").click()
    panel.locator(".script-run.finished").wait_for(timeout=10000)
    demo.shot(agent, "05-script-completed")
    conversation = demo.api("GET", f"/api/v1/conversations/{conversation_id}").json()
    attributes = conversation["custom_attributes"]
    assert attributes["order_number"] == "P-7731" and attributes["return_reason"] == "Difettoso / Faulty", attributes
    assert attributes["photos_received"] is True and attributes["delivered_on"] == "2026-11-20", attributes
    contact = demo.api("GET", f"/api/v1/contacts/{conversation['contact_id']}").json()
    assert contact["custom_attributes"]["prefers_pickup"] is True, contact["custom_attributes"]


def test_an_agent_schedules_a_callback_on_a_demo_conversation_and_it_comes_back_at_its_time(browser, demo):
    """Giulia (Italian desktop) plans to call a customer back in a few seconds from a resolved demo
    conversation; at the due time the toast appears and the conversation is hers again, open."""
    giulia = demo.user_id("Giulia Romano")
    resolved = demo.api("GET", "/api/v1/conversations", params={"status": "resolved", "limit": 50}).json()["items"]
    conversation = next(c for c in resolved if c["assignee_id"] in (None, giulia))
    conversation_id = conversation["id"]
    contact = demo.api("GET", f"/api/v1/contacts/{conversation['contact_id']}").json()
    page = login(browser, demo, _email_of(demo, "Giulia Romano"), f"/conversations/{conversation_id}")
    assert page.locator("html").get_attribute("lang") == "it"
    panel = page.locator("#agenda-panel")
    panel.locator("summary").click()
    due = datetime.now(ZoneInfo("Europe/Rome")) + timedelta(seconds=15)
    page.fill("#agenda-due", due.strftime("%Y-%m-%dT%H:%M:%S"))
    phone = page.locator("#agenda-channel option[value=phone]")
    if any(i["kind"] == "phone" for i in contact["identities"]):
        assert phone.count() == 1
        page.select_option("#agenda-channel", "phone")
    page.fill("#agenda-note", "Richiamare per il rimborso")
    panel.locator("form button[type=submit]").click()
    scheduled = page.locator("#agenda-items .agenda-item.status-scheduled", has_text="Richiamare per il rimborso")
    scheduled.or_(panel.locator(".field-error")).first.wait_for(timeout=20000)
    assert scheduled.count() == 1, panel.inner_text()
    demo.shot(page, "10-callback-scheduled")
    page.goto(demo.base + "/agenda")
    page.wait_for_selector("body[data-ws=open]", timeout=20000)
    page.locator("#agenda-list .agenda-item.status-scheduled", has_text="Richiamare per il rimborso").wait_for(
        timeout=20000
    )
    demo.shot(page, "11-agenda")
    page.locator(".agenda-toast", has_text=contact["name"]).wait_for(timeout=60000)
    page.locator("#agenda-list .agenda-item.status-due", has_text="Richiamare per il rimborso").wait_for(timeout=20000)
    demo.shot(page, "12-callback-due")
    back = demo.api("GET", f"/api/v1/conversations/{conversation_id}").json()
    assert (back["status"], back["assignee_id"]) == ("open", giulia), back
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    page.context.close()
