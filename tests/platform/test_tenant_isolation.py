"""Tenant isolation: every id-taking endpoint answers 404 for another tenant's ids, and no list leaks.

The endpoints are enumerated from the OpenAPI document, so an endpoint added later without
a row in the tables below makes this test fail until it is covered. The same table is also
run with the caller's own ids and must succeed, which proves each 404 comes from the tenant
check and not from a bad request body.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import ApiInbox, create_api_inbox, post_inbound
from tests.support.orgs import Org

PROBLEM = "application/problem+json"
SHARED_NAME = "Giulia Bianchi"
# Query parameters named *_id that are pagination positions, not references to rows.
PAGINATION_PARAMS = {"after_id", "before_id"}
# Addressed by the inbox's unguessable identifier and authenticated by its HMAC secret, not by
# a tenant's credentials (the GET is the provider's handshake, checked by the channel); covered by
# test_channel_webhook_ignores_tenant_credentials below and tests/channels/test_channel_contract.py.
NOT_TENANT_ID_ENDPOINTS = {
    ("POST", "/api/v1/channels/{channel}/{identifier}/messages"),
    ("GET", "/api/v1/channels/{channel}/{identifier}/messages"),
}


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

    def offer_to_owner(self) -> None:
        """Put the world's conversation in the second queue and route it: an offer to the owner."""
        from raccordo.accounts.domain.actor import Actor
        from raccordo.accounts.domain.roles import Role
        from raccordo.platform.store.db import unit_of_work
        from raccordo.realtime.services import presence
        from raccordo.routing.services import routing, routing_pass

        owner = Actor(self.org.tenant_id, self.org.users["owner"], Role.OWNER)
        with unit_of_work(self.rt.sessions) as session:
            routing.transfer(session, owner, self.conversation_id, queue_id=self.second_queue_id)
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
    )


@pytest.fixture
def worlds(client, org, other_org) -> tuple[World, World]:
    shared_email = f"cliente-{uuid.uuid4().hex[:8]}@example.com"
    return build_world(client, org, shared_email), build_world(client, other_org, shared_email)


# --- the table of id-taking endpoints ------------------------------------------------------------
# Each entry: (method, path template) -> body builder(mine) where `mine` is the caller's own world.
# Bodies are valid and reference only the caller's own rows, so the path id is the only foreign one.

Body = Callable[[World], Any]
ENDPOINTS: dict[tuple[str, str], Body] = {
    ("GET", "/api/v1/users/{user_id}"): lambda w: None,
    ("PATCH", "/api/v1/users/{user_id}"): lambda w: {"name": "Renamed User"},
    ("GET", "/api/v1/teams/{team_id}"): lambda w: None,
    ("PATCH", "/api/v1/teams/{team_id}"): lambda w: {"description": "changed"},
    ("PUT", "/api/v1/teams/{team_id}/members"): lambda w: {"user_ids": [w.org.users["supervisor"]]},
    ("GET", "/api/v1/inboxes/{inbox_id}"): lambda w: None,
    ("PATCH", "/api/v1/inboxes/{inbox_id}"): lambda w: {"name": "Renamed inbox"},
    ("POST", "/api/v1/inboxes/{inbox_id}/reveal-secrets"): lambda w: None,
    ("POST", "/api/v1/inboxes/{inbox_id}/check"): lambda w: None,
    ("GET", "/api/v1/messages/{message_id}/html"): lambda w: None,
    ("GET", "/api/v1/contacts/{contact_id}"): lambda w: None,
    ("PATCH", "/api/v1/contacts/{contact_id}"): lambda w: {"name": "Mario Renamed"},
    ("POST", "/api/v1/contacts/{contact_id}/identities"): lambda w: {"kind": "phone", "value": "+39 347 765 4321"},
    ("GET", "/api/v1/contacts/{contact_id}/timeline"): lambda w: None,
    ("GET", "/api/v1/contacts/{contact_id}/conversations"): lambda w: None,
    ("GET", "/api/v1/conversations/{conversation_id}"): lambda w: None,
    ("PATCH", "/api/v1/conversations/{conversation_id}"): lambda w: {"priority": "urgent", "labels": ["hijacked"]},
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): lambda w: None,
    ("GET", "/api/v1/conversations/{conversation_id}/timeline"): lambda w: None,
    ("POST", "/api/v1/conversations/{conversation_id}/reply"): lambda w: {"text": "Risposta", "inbox_id": w.inbox.id},
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): lambda w: {"text": "Nota interna"},
    ("GET", "/api/v1/attachments/{attachment_id}"): lambda w: None,
    ("GET", "/api/v1/queues/{queue_id}"): lambda w: None,
    ("PATCH", "/api/v1/queues/{queue_id}"): lambda w: {"ageing_per_minute": 1.5},
    ("PUT", "/api/v1/queues/{queue_id}/members"): lambda w: {"user_ids": [w.org.users["agent"]]},
    ("GET", "/api/v1/users/{user_id}/routing"): lambda w: None,
    ("PUT", "/api/v1/users/{user_id}/routing"): lambda w: {"skills": {"italiano": 3}, "queue_ids": [w.queue_id]},
    ("PATCH", "/api/v1/routing-rules/{rule_id}"): lambda w: {"priority": 5},
    ("POST", "/api/v1/conversations/{conversation_id}/offer/accept"): lambda w: w.offer_to_owner(),
    ("POST", "/api/v1/conversations/{conversation_id}/offer/decline"): lambda w: w.offer_to_owner()
    or {"reason": "test"},
    ("POST", "/api/v1/conversations/{conversation_id}/transfer"): lambda w: {
        "queue_id": w.second_queue_id,
        "note": "Passo",
    },
    ("GET", "/api/v1/conversations/{conversation_id}/routing-events"): lambda w: None,
    ("GET", "/api/v1/conversations/{conversation_id}/sla"): lambda w: None,
    ("POST", "/api/v1/conversations/{conversation_id}/seen"): lambda w: None,
    ("PATCH", "/api/v1/sla-policies/{policy_id}"): lambda w: {"warn_before_seconds": 60},
    ("GET", "/api/v1/templates/{template_id}"): lambda w: None,
    ("PATCH", "/api/v1/templates/{template_id}"): lambda w: {"body": "Buongiorno {{contact.name}}"},
    ("GET", "/api/v1/conversations/{conversation_id}/templates"): lambda w: None,
    ("PATCH", "/api/v1/wrap-up-codes/{code_id}"): lambda w: {"label": "Vendita conclusa"},
    ("GET", "/api/v1/side-panel-apps/{app_id}"): lambda w: None,
    ("PATCH", "/api/v1/side-panel-apps/{app_id}"): lambda w: {
        "position": 3,
        "inbox_ids": [w.inbox.id],
        "queue_ids": [w.queue_id],
    },
    ("POST", "/api/v1/side-panel-apps/{app_id}/rotate-secret"): lambda w: None,
    ("GET", "/api/v1/conversations/{conversation_id}/side-panel-apps"): lambda w: None,
    ("GET", "/api/v1/agenda/{agenda_item_id}"): lambda w: None,
    ("PATCH", "/api/v1/agenda/{agenda_item_id}"): lambda w: {"note": "Richiamare dopo le 15"},
    ("GET", "/api/v1/conversations/{conversation_id}/agenda"): lambda w: None,
    ("POST", "/api/v1/agenda/{agenda_item_id}/complete"): lambda w: None,
    ("POST", "/api/v1/agenda/{agenda_item_id}/cancel"): lambda w: w.reschedule_agenda(),
    ("GET", "/api/v1/scripts/{script_id}"): lambda w: None,
    ("PATCH", "/api/v1/scripts/{script_id}"): lambda w: {"description": "Resi", "queue_ids": [w.queue_id]},
    ("GET", "/api/v1/scripts/{script_id}/versions"): lambda w: None,
    ("GET", "/api/v1/conversations/{conversation_id}/scripts"): lambda w: None,
    ("GET", "/api/v1/conversations/{conversation_id}/script-runs"): lambda w: None,
    ("GET", "/api/v1/script-runs/{run_id}"): lambda w: None,
    ("POST", "/api/v1/script-runs/{run_id}/answer"): lambda w: {"step_id": "motivo", "value": "Difettoso"},
    ("POST", "/api/v1/script-runs/{run_id}/back"): lambda w: None,
    ("POST", "/api/v1/contacts/{contact_id}/consent"): lambda w: {
        "purpose": "profiling",
        "granted": True,
        "source": "phone",
    },
    # Destructive ones last: the control run with the caller's own ids goes in this order.
    ("POST", "/api/v1/contacts/merge-suggestions/{suggestion_id}/dismiss"): lambda w: None,
    ("POST", "/api/v1/contacts/{contact_id}/merge"): lambda w: {"other_id": w.second_contact_id},
    ("DELETE", "/api/v1/tokens/{token_id}"): lambda w: None,
    ("DELETE", "/api/v1/teams/{team_id}"): lambda w: None,
    ("DELETE", "/api/v1/routing-rules/{rule_id}"): lambda w: None,
    ("DELETE", "/api/v1/skills/{skill_id}"): lambda w: None,
    ("DELETE", "/api/v1/queues/{queue_id}"): lambda w: None,
    ("DELETE", "/api/v1/sla-policies/{policy_id}"): lambda w: None,
    ("DELETE", "/api/v1/templates/{template_id}"): lambda w: None,
    ("DELETE", "/api/v1/wrap-up-codes/{code_id}"): lambda w: None,
    ("DELETE", "/api/v1/side-panel-apps/{app_id}"): lambda w: None,
    ("POST", "/api/v1/script-runs/{run_id}/abandon"): lambda w: None,
    # Starting a run needs none in progress: the world's run was just abandoned above.
    ("POST", "/api/v1/conversations/{conversation_id}/script-runs"): lambda w: {"script_id": w.script_id},
    ("DELETE", "/api/v1/scripts/{script_id}"): lambda w: None,
}

# Query parameters that reference rows: (path, parameter) -> what a foreign id gives.
QUERY_IDS: dict[tuple[str, str], str] = {
    ("/api/v1/conversations", "assignee_id"): "empty",
    ("/api/v1/conversations", "team_id"): "empty",
    ("/api/v1/conversations", "inbox_id"): "empty",
    ("/api/v1/conversations", "contact_id"): "empty",
    ("/api/v1/conversations", "queue_id"): "empty",
    ("/api/v1/contacts/merge-suggestions", "contact_id"): "404",
    ("/api/v1/conversations/{conversation_id}/templates", "inbox_id"): "404",
}

# Request body fields that reference rows: (method, path, field). Each is exercised in
# test_foreign_ids_in_bodies_are_404_and_change_nothing.
BODY_IDS = {
    ("PATCH", "/api/v1/conversations/{conversation_id}", "assignee_id"),
    ("PATCH", "/api/v1/conversations/{conversation_id}", "team_id"),
    ("POST", "/api/v1/conversations/{conversation_id}/reply", "inbox_id"),
    ("POST", "/api/v1/contacts/{contact_id}/merge", "other_id"),
    ("POST", "/api/v1/teams", "member_ids"),
    ("PUT", "/api/v1/teams/{team_id}/members", "user_ids"),
    ("POST", "/api/v1/conversations/{conversation_id}/transfer", "user_id"),
    ("POST", "/api/v1/conversations/{conversation_id}/transfer", "team_id"),
    ("POST", "/api/v1/conversations/{conversation_id}/transfer", "queue_id"),
    ("POST", "/api/v1/queues", "overflow_queue_id"),
    ("PATCH", "/api/v1/queues/{queue_id}", "overflow_queue_id"),
    ("PUT", "/api/v1/queues/{queue_id}/members", "user_ids"),
    ("PUT", "/api/v1/users/{user_id}/routing", "queue_ids"),
    ("POST", "/api/v1/routing-rules", "queue_id"),
    ("PATCH", "/api/v1/routing-rules/{rule_id}", "queue_id"),
    ("POST", "/api/v1/side-panel-apps", "inbox_ids"),
    ("POST", "/api/v1/side-panel-apps", "queue_ids"),
    ("PATCH", "/api/v1/side-panel-apps/{app_id}", "inbox_ids"),
    ("PATCH", "/api/v1/side-panel-apps/{app_id}", "queue_ids"),
    ("POST", "/api/v1/agenda", "conversation_id"),
    ("POST", "/api/v1/agenda", "inbox_id"),
    ("POST", "/api/v1/agenda", "queue_id"),
    ("POST", "/api/v1/agenda", "owner_id"),
    ("PATCH", "/api/v1/agenda/{agenda_item_id}", "inbox_id"),
    ("PATCH", "/api/v1/agenda/{agenda_item_id}", "queue_id"),
    ("PATCH", "/api/v1/agenda/{agenda_item_id}", "owner_id"),
    # Guided scripts: exercised in tests/desk/test_scripts.py::test_applicability_inactive_scripts_and_tenant_isolation.
    ("POST", "/api/v1/scripts", "queue_ids"),
    ("PATCH", "/api/v1/scripts/{script_id}", "queue_ids"),
    ("POST", "/api/v1/conversations/{conversation_id}/script-runs", "script_id"),
}


def _openapi(client) -> dict[str, Any]:
    return client.app.openapi()


def _id_endpoints(spec: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for path, operations in spec["paths"].items():
        if path.startswith("/api/v1/") and "{" in path:
            found.update((method.upper(), path) for method in operations)
    return found - NOT_TENANT_ID_ENDPOINTS


def _query_ids(spec: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if (
                    parameter["in"] == "query"
                    and (name.endswith("_id") or name.endswith("_ids"))
                    and name not in PAGINATION_PARAMS
                ):
                    found.add((path, name))
    return found


def _body_ids(spec: dict[str, Any]) -> set[tuple[str, str, str]]:
    schemas = spec.get("components", {}).get("schemas", {})
    found = set()
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                schema = media.get("schema", {})
                if "$ref" in schema:
                    schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
                for name, prop in schema.get("properties", {}).items():
                    if (name.endswith("_id") or name.endswith("_ids")) and _is_integer(prop):
                        found.add((method.upper(), path, name))
    return found


def _is_integer(prop: dict[str, Any]) -> bool:
    """Row ids are integers (or lists of them); a string ``step_id`` names a step inside a script."""
    options = prop.get("anyOf") or prop.get("oneOf") or [prop]
    return any(
        o.get("type") == "integer" or (o.get("type") == "array" and o.get("items", {}).get("type") == "integer")
        for o in options
    )


def _call(client, method: str, url: str, headers: dict[str, str], body: Any):
    return (
        client.request(method, url, headers=headers, json=body)
        if body is not None
        else client.request(method, url, headers=headers)
    )


def _assert_problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["detail"], body
    return body


def test_every_id_endpoint_is_in_the_tables(client):
    """A new endpoint taking an id (in the path, a query or a body) must be added to these tests."""
    spec = _openapi(client)
    assert _id_endpoints(spec) == set(ENDPOINTS), "update ENDPOINTS: " + repr(_id_endpoints(spec) ^ set(ENDPOINTS))
    assert _query_ids(spec) == set(QUERY_IDS), "update QUERY_IDS: " + repr(_query_ids(spec) ^ set(QUERY_IDS))
    assert _body_ids(spec) == BODY_IDS, "update BODY_IDS: " + repr(_body_ids(spec) ^ BODY_IDS)


def _snapshot(client, w: World) -> dict[str, Any]:
    """What another tenant could have damaged, read by that tenant's own owner."""
    h = w.org.headers()
    get = lambda url: client.get(url, headers=h).json()  # noqa: E731
    return {
        "user": get(f"/api/v1/users/{w.user_id}"),
        "team": get(f"/api/v1/teams/{w.team_id}"),
        "inbox": get(f"/api/v1/inboxes/{w.inbox.id}"),
        "contact": get(f"/api/v1/contacts/{w.contact_id}"),
        "second_contact": get(f"/api/v1/contacts/{w.second_contact_id}"),
        "conversation": get(f"/api/v1/conversations/{w.conversation_id}"),
        "messages": get(f"/api/v1/conversations/{w.conversation_id}/messages"),
        "suggestions": get("/api/v1/contacts/merge-suggestions"),
        "tokens": get("/api/v1/tokens"),
        "timeline": get(f"/api/v1/contacts/{w.contact_id}/timeline"),
        "agenda": get(f"/api/v1/agenda/{w.agenda_item_id}"),
    }


def test_every_id_endpoint_answers_404_for_another_tenants_ids(client, worlds):
    mine, theirs = worlds
    before = _snapshot(client, theirs)
    headers = mine.org.headers()
    wrong = []
    for (method, template), body in ENDPOINTS.items():
        url = template.format(**theirs.ids())
        response = _call(client, method, url, headers, body(mine))
        foreign_id = theirs.ids()[template.split("{")[1].split("}")[0]]
        if (
            response.status_code != 404
            or not response.headers["content-type"].startswith(PROBLEM)
            or str(foreign_id) not in response.json().get("detail", "")
        ):
            wrong.append(f"{method} {template}: {response.status_code} {response.text[:200]}")
        assert client.get("/healthz").status_code == 200
    assert not wrong, "endpoints that did not answer 404 problem+json naming the id:\n" + "\n".join(wrong)
    after = _snapshot(client, theirs)
    assert after == before, "a refused request changed the other tenant's data"
    # Their API token still works and nothing was written in their audit log by our users.
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {theirs.token}"}).status_code == 200
    audit = client.get("/api/v1/audit", params={"limit": 500}, headers=theirs.org.headers()).json()
    assert not {a["user_id"] for a in audit} & set(mine.org.users.values())


def test_the_same_requests_with_own_ids_succeed(client, worlds):
    """Control: with the caller's own ids every request in the table works, so the 404s above are the tenant check."""
    mine, _ = worlds
    headers = mine.org.headers()
    wrong = []
    for (method, template), body in ENDPOINTS.items():
        url = template.format(**mine.ids())
        response = _call(client, method, url, headers, body(mine))
        if not 200 <= response.status_code < 300:
            wrong.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_foreign_ids_in_queries(client, worlds):
    mine, theirs = worlds
    headers = mine.org.headers()
    # Make their conversation match every filter, so only the tenant scope can hide it.
    h = theirs.org.headers()
    queued = client.post(
        f"/api/v1/conversations/{theirs.conversation_id}/transfer", json={"queue_id": theirs.queue_id}, headers=h
    )
    assert queued.status_code == 200, queued.text
    patched = client.patch(
        f"/api/v1/conversations/{theirs.conversation_id}",
        json={"assignee_id": theirs.user_id, "team_id": theirs.team_id},
        headers=h,
    )
    assert patched.status_code == 200, patched.text
    foreign = {
        "assignee_id": theirs.user_id,
        "team_id": theirs.team_id,
        "inbox_id": theirs.inbox.id,
        "contact_id": theirs.contact_id,
        "queue_id": theirs.queue_id,
    }
    for (path, name), expected in QUERY_IDS.items():
        # The suggestion pairs the two same-name contacts, not the one with the conversation.
        value = theirs.second_contact_id if path.endswith("merge-suggestions") else foreign[name]
        response = client.get(path.format(conversation_id=mine.conversation_id), params={name: value}, headers=headers)
        if expected == "404":
            _assert_problem(response, 404)
        else:
            assert response.status_code == 200, response.text
            assert response.json()["items"] == [], f"{path}?{name}={value} returned another tenant's rows"
        # The owner of those rows does see them with the same filter (the filter itself works).
        theirs_view = client.get(path.format(conversation_id=theirs.conversation_id), params={name: value}, headers=h)
        assert theirs_view.status_code == 200
        rows = theirs_view.json()["items"] if expected == "empty" else theirs_view.json()
        assert rows, f"{path}?{name} finds nothing even for its own tenant"


def test_foreign_ids_in_bodies_are_404_and_change_nothing(client, worlds):
    mine, theirs = worlds
    headers = mine.org.headers()
    conversation_url = f"/api/v1/conversations/{mine.conversation_id}"
    before = client.get(conversation_url, headers=headers).json()

    # Conversation assignee / team of another tenant; the status change in the same request is not applied.
    for field, value in (("assignee_id", theirs.user_id), ("team_id", theirs.team_id)):
        response = client.patch(conversation_url, json={"status": "pending", field: value}, headers=headers)
        _assert_problem(response, 404)
        now = client.get(conversation_url, headers=headers).json()
        assert now["status"] == before["status"] == "open" and now[field] is None

    # Reply on another tenant's inbox.
    messages_before = client.get(f"{conversation_url}/messages", headers=headers).json()
    _assert_problem(
        client.post(f"{conversation_url}/reply", json={"text": "Ciao", "inbox_id": theirs.inbox.id}, headers=headers),
        404,
    )
    assert client.get(f"{conversation_url}/messages", headers=headers).json() == messages_before
    assert (
        len(client.get(f"/api/v1/conversations/{theirs.conversation_id}/messages", headers=theirs.org.headers()).json())
        == 1
    )

    # Merge another tenant's contact into ours.
    ours_before = client.get(f"/api/v1/contacts/{mine.contact_id}", headers=headers).json()
    _assert_problem(
        client.post(f"/api/v1/contacts/{mine.contact_id}/merge", json={"other_id": theirs.contact_id}, headers=headers),
        404,
    )
    assert (
        client.get(f"/api/v1/contacts/{theirs.contact_id}", headers=theirs.org.headers()).json()["merged_into_id"]
        is None
    )
    assert client.get(f"/api/v1/contacts/{mine.contact_id}", headers=headers).json() == ours_before

    # Team members from another tenant, at creation and on replacement.
    name = f"Team {uuid.uuid4().hex[:6]}"
    _assert_problem(
        client.post(
            "/api/v1/teams",
            json={"name": name, "member_ids": [mine.org.users["agent"], theirs.user_id]},
            headers=headers,
        ),
        404,
    )
    assert name not in [t["name"] for t in client.get("/api/v1/teams", headers=headers).json()], (
        "a refused team was still created"
    )
    _assert_problem(
        client.put(
            f"/api/v1/teams/{mine.team_id}/members",
            json={"user_ids": [mine.org.users["supervisor"], theirs.user_id]},
            headers=headers,
        ),
        404,
    )
    assert client.get(f"/api/v1/teams/{mine.team_id}", headers=headers).json()["member_ids"] == [
        mine.org.users["agent"]
    ]

    # Routing: transfers, queues, members, agents' queues and rules naming another tenant's rows.
    for field, value in (("user_id", theirs.user_id), ("team_id", theirs.team_id), ("queue_id", theirs.queue_id)):
        _assert_problem(client.post(f"{conversation_url}/transfer", json={field: value}, headers=headers), 404)
        assert client.get(conversation_url, headers=headers).json()["assignee_id"] is None
    queue_url = f"/api/v1/queues/{mine.queue_id}"
    queue_before = client.get(queue_url, headers=headers).json()
    _assert_problem(
        client.post("/api/v1/queues", json={"name": "Trabocco", "overflow_queue_id": theirs.queue_id}, headers=headers),
        404,
    )
    assert "Trabocco" not in [q["name"] for q in client.get("/api/v1/queues", headers=headers).json()]
    _assert_problem(client.patch(queue_url, json={"overflow_queue_id": theirs.queue_id}, headers=headers), 404)
    _assert_problem(
        client.put(
            f"{queue_url}/members", json={"user_ids": [mine.org.users["agent"], theirs.user_id]}, headers=headers
        ),
        404,
    )
    assert client.get(queue_url, headers=headers).json() == queue_before
    profile_url = f"/api/v1/users/{mine.user_id}/routing"
    profile_before = client.get(profile_url, headers=headers).json()
    _assert_problem(client.put(profile_url, json={"queue_ids": [mine.queue_id, theirs.queue_id]}, headers=headers), 404)
    assert client.get(profile_url, headers=headers).json() == profile_before
    rules_before = client.get("/api/v1/routing-rules", headers=headers).json()
    _assert_problem(
        client.post("/api/v1/routing-rules", json={"name": "Altrui", "queue_id": theirs.queue_id}, headers=headers), 404
    )
    _assert_problem(
        client.patch(f"/api/v1/routing-rules/{mine.rule_id}", json={"queue_id": theirs.queue_id}, headers=headers), 404
    )
    assert client.get("/api/v1/routing-rules", headers=headers).json() == rules_before

    # Agenda: another tenant's conversation, inbox, queue or agent, when scheduling or changing an item.
    agenda_url = f"/api/v1/agenda/{mine.agenda_item_id}"
    agenda_before = client.get(agenda_url, headers=headers).json()
    listed_before = client.get("/api/v1/agenda", params={"scope": "all"}, headers=headers).json()
    schedule = {
        "conversation_id": mine.conversation_id,
        "kind": "callback",
        "due_at": "2099-01-02T10:00:00+00:00",
        "inbox_id": mine.inbox.id,
    }
    for field, value in (
        ("conversation_id", theirs.conversation_id),
        ("inbox_id", theirs.inbox.id),
        ("queue_id", theirs.queue_id),
        ("owner_id", theirs.user_id),
    ):
        _assert_problem(client.post("/api/v1/agenda", json={**schedule, field: value}, headers=headers), 404)
        if field != "conversation_id":
            _assert_problem(client.patch(agenda_url, json={field: value, "note": "cambiata"}, headers=headers), 404)
    assert client.get(agenda_url, headers=headers).json() == agenda_before
    assert client.get("/api/v1/agenda", params={"scope": "all"}, headers=headers).json() == listed_before


def test_lists_never_return_another_tenants_rows(client, worlds):
    mine, theirs = worlds
    headers = mine.org.headers()
    theirs_h = theirs.org.headers()

    def ids(url, **params):
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        return {row["id"] for row in (body["items"] if isinstance(body, dict) else body)}

    def their_ids(url, **params):
        body = client.get(url, params=params, headers=theirs_h).json()
        return {row["id"] for row in (body["items"] if isinstance(body, dict) else body)}

    # Each list shows ours and none of theirs (and theirs is not empty, so the check means something).
    for url in (
        "/api/v1/conversations",
        "/api/v1/contacts",
        "/api/v1/users",
        "/api/v1/teams",
        "/api/v1/inboxes",
        "/api/v1/contacts/merge-suggestions",
        "/api/v1/audit",
        "/api/v1/tokens",
        "/api/v1/templates",
        "/api/v1/wrap-up-codes",
        "/api/v1/scripts",
        "/api/v1/agenda",
        "/api/v1/side-panel-apps",
    ):
        params = {"limit": 100} if url in ("/api/v1/conversations", "/api/v1/contacts", "/api/v1/audit") else {}
        own, other = ids(url, **params), their_ids(url, **params)
        assert own and other, url
        assert not own & other, f"{url} returned another tenant's rows: {own & other}"
    assert ids("/api/v1/users") == set(mine.org.users.values())
    assert ids("/api/v1/inboxes") == {mine.inbox.id}
    assert ids("/api/v1/teams") == {mine.team_id}

    # Search by an email only the other tenant has finds nothing; by a shared email, only our contact.
    assert ids("/api/v1/contacts", q=theirs.only_email) == set()
    assert ids("/api/v1/contacts", q=theirs.only_email.upper()) == set()
    assert their_ids("/api/v1/contacts", q=theirs.only_email) == {theirs.contact_id}
    shared = next(
        i["value"]
        for i in client.get(f"/api/v1/contacts/{mine.contact_id}", headers=headers).json()["identities"]
        if i["value"].startswith("cliente-")
    )
    assert ids("/api/v1/contacts", q=shared) == {mine.contact_id}
    assert mine.contact_id != theirs.contact_id, "the same email in two tenants must be two contacts"
    # Same names in both tenants: search and suggestions pair only contacts of one tenant.
    our_contacts = ids("/api/v1/contacts", limit=100)
    same_name = ids("/api/v1/contacts", q=SHARED_NAME)
    assert len(same_name) == 2 and mine.second_contact_id in same_name and same_name <= our_contacts
    for suggestion in client.get("/api/v1/contacts/merge-suggestions", headers=headers).json():
        assert {suggestion["contact_a_id"], suggestion["contact_b_id"]} <= our_contacts
    # The timeline and messages of our conversation hold only our rows.
    their_messages = {
        m["id"] for m in client.get(f"/api/v1/conversations/{theirs.conversation_id}/messages", headers=theirs_h).json()
    }
    assert not ids(f"/api/v1/conversations/{mine.conversation_id}/messages") & their_messages
    their_events = their_ids(f"/api/v1/contacts/{theirs.contact_id}/timeline")
    assert not ids(f"/api/v1/contacts/{mine.contact_id}/timeline") & their_events
    # The audit log holds only actions of our users.
    audit = client.get("/api/v1/audit", params={"limit": 500}, headers=headers).json()
    assert {a["user_id"] for a in audit} - {None} <= set(mine.org.users.values())


def test_channel_webhook_ignores_tenant_credentials(client, worlds):
    """The inbound webhook is addressed by inbox identifier and HMAC: a tenant's token cannot post
    into another tenant's inbox."""
    mine, theirs = worlds
    body = (
        b'{"message_id": "intruder-1", "contact": {"identities": [{"kind": "email", "value": "intruder@example.com"}]},'
        b' "text": "hi"}'
    )
    response = client.post(
        theirs.inbox.url, content=body, headers={**mine.org.headers(), "Content-Type": "application/json"}
    )
    _assert_problem(response, 401)
    # Signed with our inbox's secret, on their inbox: refused too.
    from raccordo.channels import signing

    response = client.post(
        theirs.inbox.url,
        content=body,
        headers={"Content-Type": "application/json", **signing.sign(mine.inbox.secret, body)},
    )
    _assert_problem(response, 401)
    assert (
        client.get("/api/v1/contacts", params={"q": "intruder@example.com"}, headers=theirs.org.headers()).json() == []
    )
    # The GET on the same URL is the provider's handshake: a tenant's token gets no more than anyone
    # (the API channel has none: 405).
    _assert_problem(client.get(theirs.inbox.url, headers=mine.org.headers()), 405)


def test_foreign_ids_in_side_panel_app_bodies(client, worlds):
    """Side-panel apps limited to another tenant's inbox or queue: 404, and nothing is created or changed."""
    mine, theirs = worlds
    headers = mine.org.headers()
    app_url = f"/api/v1/side-panel-apps/{mine.app_id}"
    before = client.get(app_url, headers=headers).json()
    listed = client.get("/api/v1/side-panel-apps", headers=headers).json()
    for field, value in (("inbox_ids", theirs.inbox.id), ("queue_ids", theirs.queue_id)):
        _assert_problem(
            client.post(
                "/api/v1/side-panel-apps",
                json={"name": "Altrui", "url": "https://other.example.com/", field: [value]},
                headers=headers,
            ),
            404,
        )
        _assert_problem(client.patch(app_url, json={"position": 9, field: [value]}, headers=headers), 404)
    assert client.get(app_url, headers=headers).json() == before
    assert client.get("/api/v1/side-panel-apps", headers=headers).json() == listed
