"""Tenant isolation of id-taking endpoints: another tenant's ids in a path or a query answer 404.

The endpoints are enumerated from the OpenAPI document, so an endpoint added later without
a row in the tables below makes this test fail until it is covered. The same table is also
run with the caller's own ids and must succeed, which proves each 404 comes from the tenant
check and not from a bad request body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.tenant_worlds import PROBLEM, World, assert_problem

# Query parameters named *_id that are pagination positions, not references to rows.
PAGINATION_PARAMS = {"after_id", "before_id"}
# Addressed by the inbox's unguessable identifier and authenticated by its HMAC secret, not by
# a tenant's credentials (the GET is the provider's handshake, checked by the channel); covered by
# test_channel_webhook_ignores_tenant_credentials below and tests/channels/test_channel_contract.py.
NOT_TENANT_ID_ENDPOINTS = {
    ("POST", "/api/v1/channels/{channel}/{identifier}/messages"),
    ("GET", "/api/v1/channels/{channel}/{identifier}/messages"),
}


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
    ("POST", "/api/v1/messages/{reply_id}/retry"): lambda w: None,
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
    ("GET", "/api/v1/conversations/{conversation_id}/channel-templates"): lambda w: None,
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
    # The world's inbox is an API-channel one, which has no provider templates: only the 404 is checked
    # here; tests/sandbox/test_whatsapp_composer_templates.py lists a WhatsApp inbox's own templates.
    ("/api/v1/conversations/{conversation_id}/channel-templates", "inbox_id"): "404-only",
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
        if expected in ("404", "404-only"):
            assert_problem(response, 404)
            if expected == "404-only":
                continue
        else:
            assert response.status_code == 200, response.text
            assert response.json()["items"] == [], f"{path}?{name}={value} returned another tenant's rows"
        # The owner of those rows does see them with the same filter (the filter itself works).
        theirs_view = client.get(path.format(conversation_id=theirs.conversation_id), params={name: value}, headers=h)
        assert theirs_view.status_code == 200
        rows = theirs_view.json()["items"] if expected == "empty" else theirs_view.json()
        assert rows, f"{path}?{name} finds nothing even for its own tenant"
