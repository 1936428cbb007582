"""Two tenants' worlds for the isolation tests: the same kinds of rows in each, built over the API.

Both worlds share a contact email and a name, so a list that leaks another tenant's rows shows it.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from tests.helpers import ApiInbox, create_api_inbox, post_inbound
from tests.support.orgs import Org

PROBLEM = "application/problem+json"
SHARED_NAME = "Giulia Bianchi"


@dataclass
class World:
    """One tenant's rows of every kind an endpoint can address by id."""

    org: Org
    inbox: ApiInbox
    contact_id: int
    second_contact_id: int
    conversation_id: int
    message_id: int
    attachment_id: int
    team_id: int
    suggestion_id: int
    token_id: int
    token: str
    spare_token_id: int
    user_id: int
    only_email: str
    rt: Any = None
    queue_id: int = 0
    second_queue_id: int = 0
    skill_id: int = 0
    rule_id: int = 0
    policy_id: int = 0
    template_id: int = 0
    code_id: int = 0
    app_id: int = 0
    script_id: int = 0
    run_id: int = 0
    agenda_item_id: int = 0
    reply_id: int = 0  # an agent's reply, queued (the inbox has no callback: it can fail, never be sent)

    def offer_to_owner(self) -> None:
        """Put the world's conversation in the second queue and route it: an offer to the owner."""
        from raccordo.accounts.domain.actor import Actor
        from raccordo.accounts.domain.roles import Role
        from raccordo.platform.store.db import unit_of_work
        from raccordo.realtime.services import presence
        from raccordo.routing.services import routing_pass, transfers

        owner = Actor(self.org.tenant_id, self.org.users["owner"], Role.OWNER)
        with unit_of_work(self.rt.sessions) as session:
            transfers.transfer(session, owner, self.conversation_id, queue_id=self.second_queue_id)
            presence.connect(
                session, owner, f"iso-{uuid.uuid4().hex}", "test-node"
            )  # online with a live connection row
        routing_pass.dispatch(self.rt, self.org.tenant_id)

    def reschedule_agenda(self) -> None:
        """Make the world's agenda item scheduled again (after the table completed it), so it can be cancelled."""
        from datetime import UTC, datetime, timedelta

        from raccordo.accounts.domain.actor import Actor
        from raccordo.accounts.domain.roles import Role
        from raccordo.desk.services import agenda
        from raccordo.platform.store.db import unit_of_work

        owner = Actor(self.org.tenant_id, self.org.users["owner"], Role.OWNER)
        with unit_of_work(self.rt.sessions) as session:
            agenda.update(session, owner, self.agenda_item_id, due_at=datetime.now(UTC) + timedelta(hours=2))

    def ids(self) -> dict[str, int]:
        return {
            "user_id": self.user_id,
            "team_id": self.team_id,
            "inbox_id": self.inbox.id,
            "suggestion_id": self.suggestion_id,
            "contact_id": self.contact_id,
            "conversation_id": self.conversation_id,
            "reply_id": self.reply_id,
            "attachment_id": self.attachment_id,
            "token_id": self.spare_token_id,
            "queue_id": self.queue_id,
            "skill_id": self.skill_id,
            "rule_id": self.rule_id,
            "policy_id": self.policy_id,
            "template_id": self.template_id,
            "code_id": self.code_id,
            "app_id": self.app_id,
            "script_id": self.script_id,
            "run_id": self.run_id,
            "agenda_item_id": self.agenda_item_id,
            "message_id": self.message_id,
        }


def build_world(client, org: Org, shared_email: str) -> World:
    headers = org.headers()
    inbox = create_api_inbox(client, headers, name=f"API {org.slug}")
    only_email = f"only-{org.slug}@example.com"
    payload = {
        "message_id": f"iso-{uuid.uuid4().hex}",
        "contact": {
            "name": "Mario Rossi",
            "identities": [{"kind": "email", "value": shared_email}, {"kind": "email", "value": only_email}],
        },
        "text": "Buongiorno, allego la ricevuta",
        "html": "<p>Buongiorno, allego la <b>ricevuta</b></p>",
        "attachments": [
            {
                "filename": "ricevuta.pdf",
                "content_type": "application/pdf",
                "data_base64": base64.b64encode(b"%PDF-1.4 iso").decode(),
            }
        ],
    }
    response = post_inbound(client, inbox, payload)
    assert response.status_code == 200, response.text
    message_id = response.json()["message_ids"][0]
    conversation = client.get("/api/v1/conversations", headers=headers).json()["items"][0]
    messages = client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=headers).json()
    attachment_id = next(m for m in messages if m["id"] == message_id)["attachments"][0]["id"]
    # Two contacts with the same name make a merge suggestion.
    first = client.post("/api/v1/contacts", json={"name": SHARED_NAME}, headers=headers)
    second = client.post("/api/v1/contacts", json={"name": SHARED_NAME}, headers=headers)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    suggestions = client.get(
        "/api/v1/contacts/merge-suggestions", params={"contact_id": second.json()["id"]}, headers=headers
    ).json()
    assert len(suggestions) == 1, suggestions
    team = client.post(
        "/api/v1/teams", json={"name": "Assistenza", "member_ids": [org.users["agent"]]}, headers=headers
    )
    assert team.status_code == 201, team.text
    token = client.post("/api/v1/tokens", json={"name": "integration"}, headers=headers)
    spare = client.post("/api/v1/tokens", json={"name": "spare"}, headers=headers)
    assert token.status_code == spare.status_code == 201
    timeline = client.get(f"/api/v1/contacts/{conversation['contact_id']}/timeline", headers=headers).json()
    assert timeline, "the inbound message must have left timeline events"
    skill = client.post("/api/v1/skills", json={"name": "italiano"}, headers=headers)
    queue = client.post("/api/v1/queues", json={"name": "Coda"}, headers=headers)
    second_queue = client.post("/api/v1/queues", json={"name": "Offerte", "offer_timeout_seconds": 60}, headers=headers)
    assert skill.status_code == queue.status_code == second_queue.status_code == 201, (
        skill.text,
        queue.text,
        second_queue.text,
    )
    rule = client.post(
        "/api/v1/routing-rules",
        json={
            "name": "Italiano",
            "queue_id": queue.json()["id"],
            "required_skills": {"italiano": 2},
            "conditions": [{"field": "language", "op": "eq", "value": "xx"}],
        },
        headers=headers,
    )
    owner_profile = client.put(
        f"/api/v1/users/{org.users['owner']}/routing", json={"queue_ids": [second_queue.json()["id"]]}, headers=headers
    )
    assert rule.status_code == 201 and owner_profile.status_code == 200, (rule.text, owner_profile.text)
    policy = client.post(
        "/api/v1/sla-policies", json={"name": "Standard", "resolution_seconds": 86400}, headers=headers
    )
    assert policy.status_code == 201, policy.text
    template = client.post(
        "/api/v1/templates",
        json={"name": "Saluto", "shortcut": "ciao", "body": "Ciao {{contact.first_name}}"},
        headers=headers,
    )
    assert template.status_code == 201, template.text
    code = client.post("/api/v1/wrap-up-codes", json={"code": "vendita", "label": "Vendita"}, headers=headers)
    assert code.status_code == 201, code.text
    app = client.post(
        "/api/v1/side-panel-apps",
        json={
            "name": "CRM",
            "url": "https://crm.example.com/panel",
            "inbox_ids": [inbox.id],
            "queue_ids": [queue.json()["id"]],
        },
        headers=headers,
    )
    assert app.status_code == 201, app.text
    script_steps = [
        {"id": "motivo", "prompt": "Motivo?", "answer": "text", "target": "conversation.motivo", "next": "fine"},
        {"id": "fine", "prompt": "Grazie"},
    ]
    script = client.post("/api/v1/scripts", json={"name": "Reso", "steps": script_steps}, headers=headers)
    assert script.status_code == 201, script.text
    run = client.post(
        f"/api/v1/conversations/{conversation['id']}/script-runs",
        json={"script_id": script.json()["id"]},
        headers=headers,
    )
    assert run.status_code == 201, run.text
    callback = client.post(
        "/api/v1/agenda",
        json={
            "conversation_id": conversation["id"],
            "kind": "callback",
            "due_at": "2099-01-01T10:00:00+00:00",
            "inbox_id": inbox.id,
        },
        headers=headers,
    )
    assert callback.status_code == 201, callback.text
    reply = client.post(
        f"/api/v1/conversations/{conversation['id']}/reply",
        json={"text": "Eccomi", "inbox_id": inbox.id},
        headers=headers,
    )
    assert reply.status_code == 201, reply.text
    return World(
        org=org,
        inbox=inbox,
        contact_id=conversation["contact_id"],
        second_contact_id=second.json()["id"],
        conversation_id=conversation["id"],
        message_id=message_id,
        attachment_id=attachment_id,
        team_id=team.json()["id"],
        suggestion_id=suggestions[0]["id"],
        token_id=token.json()["id"],
        token=token.json()["token"],
        spare_token_id=spare.json()["id"],
        user_id=org.users["agent"],
        only_email=only_email,
        rt=client.app.state.runtime,
        queue_id=queue.json()["id"],
        second_queue_id=second_queue.json()["id"],
        skill_id=skill.json()["id"],
        rule_id=rule.json()["id"],
        policy_id=policy.json()["id"],
        template_id=template.json()["id"],
        code_id=code.json()["id"],
        script_id=script.json()["id"],
        run_id=run.json()["id"],
        agenda_item_id=callback.json()["id"],
        app_id=app.json()["id"],
        reply_id=reply.json()["id"],
    )


def assert_problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["detail"], body
    return body
