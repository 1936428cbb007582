"""The role matrix: what agents, supervisors, admins and owners may do, and that a refusal changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import ApiInbox, create_api_inbox, customer_message, post_inbound
from tests.support.orgs import Org, post_user

PROBLEM = "application/problem+json"
ROLES = ("agent", "supervisor", "admin", "owner")


@dataclass
class Ctx:
    org: Org
    inbox: ApiInbox
    conversation_id: int
    survivor_id: int
    merged_id: int
    suggestion_id: int
    team_id: int
    marker: str

    def get(self, client, url: str, **params: Any) -> Any:
        response = client.get(url, params=params, headers=self.org.headers("owner"))
        assert response.status_code == 200, response.text
        return response.json()


def make_ctx(client, org: Org) -> Ctx:
    """Fresh rows to act on, in an existing organization (names carry a marker so contexts never mix)."""
    owner = org.headers("owner")
    marker = uuid.uuid4().hex[:8]
    inbox = create_api_inbox(client, owner, name=f"API {marker}")
    assert (
        post_inbound(client, inbox, customer_message(f"r-{marker}", email=f"c-{marker}@example.com")).status_code == 200
    )
    conversation = client.get("/api/v1/conversations", params={"inbox_id": inbox.id}, headers=owner).json()["items"][0]
    a = client.post("/api/v1/contacts", json={"name": f"Anna Verdi {marker}"}, headers=owner).json()
    b = client.post("/api/v1/contacts", json={"name": f"Anna Verdi {marker}"}, headers=owner).json()
    suggestion = client.get("/api/v1/contacts/merge-suggestions", params={"contact_id": a["id"]}, headers=owner).json()[
        0
    ]
    team = client.post(
        "/api/v1/teams", json={"name": f"Team {marker}", "member_ids": [org.users["agent"]]}, headers=owner
    ).json()
    return Ctx(org, inbox, conversation["id"], a["id"], b["id"], suggestion["id"], team["id"], marker)


@pytest.fixture
def ctx(client, org) -> Ctx:
    return make_ctx(client, org)


def _other_user(org: Org, role: str) -> int:
    """Someone other than the caller: the supervisor for an agent, the agent for everyone else."""
    return org.users["supervisor" if role == "agent" else "agent"]


# Each action: request(client, ctx, role) -> response, and applied(client, ctx, role) -> bool
# telling whether its effect is visible afterwards (read as the owner); None for reads.
@dataclass(frozen=True)
class Action:
    request: Callable[[Any, Ctx, str], Any]
    applied: Callable[[Any, Ctx, str], bool] | None
    undo: Callable[[Any, Ctx, str], Any] | None = None


def _h(ctx: Ctx, role: str) -> dict[str, str]:
    return ctx.org.headers(role)


ACTIONS: dict[str, Action] = {
    "create_user": Action(
        lambda c, x, r: post_user(
            c, _h(x, r), f"new-{x.marker}@example.com", "Nuovo", "agent", "a long enough password"
        ),
        lambda c, x, r: f"new-{x.marker}@example.com" in [u["email"] for u in x.get(c, "/api/v1/users")],
    ),
    "create_owner": Action(
        lambda c, x, r: post_user(
            c, _h(x, r), f"boss-{x.marker}@example.com", "Capo", "owner", "a long enough password"
        ),
        lambda c, x, r: f"boss-{x.marker}@example.com" in [u["email"] for u in x.get(c, "/api/v1/users")],
    ),
    "create_team": Action(
        lambda c, x, r: c.post("/api/v1/teams", json={"name": f"New team {x.marker}"}, headers=_h(x, r)),
        lambda c, x, r: f"New team {x.marker}" in [t["name"] for t in x.get(c, "/api/v1/teams")],
    ),
    "rename_team": Action(
        lambda c, x, r: c.patch(f"/api/v1/teams/{x.team_id}", json={"name": f"Renamed {x.marker}"}, headers=_h(x, r)),
        lambda c, x, r: x.get(c, f"/api/v1/teams/{x.team_id}")["name"] == f"Renamed {x.marker}",
    ),
    "set_team_members": Action(
        lambda c, x, r: c.put(
            f"/api/v1/teams/{x.team_id}/members", json={"user_ids": [x.org.users["supervisor"]]}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/teams/{x.team_id}")["member_ids"] == [x.org.users["supervisor"]],
    ),
    "delete_team": Action(
        lambda c, x, r: c.delete(f"/api/v1/teams/{x.team_id}", headers=_h(x, r)),
        lambda c, x, r: x.team_id not in [t["id"] for t in x.get(c, "/api/v1/teams")],
    ),
    "create_inbox": Action(
        lambda c, x, r: c.post(
            "/api/v1/inboxes", json={"name": f"Inbox {x.marker}", "channel": "api"}, headers=_h(x, r)
        ),
        lambda c, x, r: f"Inbox {x.marker}" in [i["name"] for i in x.get(c, "/api/v1/inboxes")],
    ),
    "update_inbox": Action(
        lambda c, x, r: c.patch(
            f"/api/v1/inboxes/{x.inbox.id}", json={"name": f"Renamed inbox {x.marker}"}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/inboxes/{x.inbox.id}")["name"] == f"Renamed inbox {x.marker}",
    ),
    "reveal_secrets": Action(
        lambda c, x, r: c.post(f"/api/v1/inboxes/{x.inbox.id}/reveal-secrets", headers=_h(x, r)),
        lambda c, x, r: any(
            a["action"] == "inbox.reveal_secrets" and a["target_id"] == x.inbox.id for a in x.get(c, "/api/v1/audit")
        ),
    ),
    "update_tenant": Action(
        lambda c, x, r: c.patch("/api/v1/tenant", json={"name": f"Renamed org {x.marker}"}, headers=_h(x, r)),
        lambda c, x, r: x.get(c, "/api/v1/tenant")["name"] == f"Renamed org {x.marker}",
    ),
    "read_audit": Action(lambda c, x, r: c.get("/api/v1/audit", headers=_h(x, r)), None),
    "merge_contacts": Action(
        lambda c, x, r: c.post(
            f"/api/v1/contacts/{x.survivor_id}/merge", json={"other_id": x.merged_id}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/contacts/{x.merged_id}")["id"] == x.survivor_id,
    ),
    "dismiss_suggestion": Action(
        lambda c, x, r: c.post(f"/api/v1/contacts/merge-suggestions/{x.suggestion_id}/dismiss", headers=_h(x, r)),
        lambda c, x, r: x.suggestion_id
        not in [s["id"] for s in x.get(c, "/api/v1/contacts/merge-suggestions", limit=200)],
    ),
    "assign_to_someone_else": Action(
        lambda c, x, r: c.patch(
            f"/api/v1/conversations/{x.conversation_id}", json={"assignee_id": _other_user(x.org, r)}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/conversations/{x.conversation_id}")["assignee_id"] == _other_user(x.org, r),
    ),
    "rename_another_user": Action(
        lambda c, x, r: c.patch(
            f"/api/v1/users/{_other_user(x.org, r)}", json={"name": f"Renamed {x.marker}"}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/users/{_other_user(x.org, r)}")["name"] == f"Renamed {x.marker}",
    ),
    "deactivate_another_user": Action(
        lambda c, x, r: c.patch(f"/api/v1/users/{_other_user(x.org, r)}", json={"active": False}, headers=_h(x, r)),
        lambda c, x, r: x.get(c, f"/api/v1/users/{_other_user(x.org, r)}")["active"] is False,
        lambda c, x, r: c.patch(
            f"/api/v1/users/{_other_user(x.org, r)}", json={"active": True}, headers=_h(x, "owner")
        ),
    ),
    "promote_to_owner": Action(
        lambda c, x, r: c.patch(f"/api/v1/users/{_other_user(x.org, r)}", json={"role": "owner"}, headers=_h(x, r)),
        lambda c, x, r: x.get(c, f"/api/v1/users/{_other_user(x.org, r)}")["role"] == "owner",
    ),
    "edit_the_owner": Action(
        lambda c, x, r: c.patch(
            f"/api/v1/users/{x.org.users['owner']}", json={"name": f"Owner {x.marker}"}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/users/{x.org.users['owner']}")["name"] == f"Owner {x.marker}",
    ),
    # Agents try to promote themselves; everyone else steps down to agent (the owner after
    # naming a second owner: the last owner may not step down, see test_last_owner_...).
    "change_own_role": Action(
        lambda c, x, r: _change_own_role(c, x, r),
        lambda c, x, r: x.get(c, f"/api/v1/users/{x.org.users[r]}")["role"]
        == ("supervisor" if r == "agent" else "agent"),
    ),
    "rename_self": Action(
        lambda c, x, r: c.patch(
            f"/api/v1/users/{x.org.users[r]}", json={"name": f"Me {x.marker}", "language": "it"}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/users/{x.org.users[r]}")["name"] == f"Me {x.marker}",
    ),
    "reply": Action(
        lambda c, x, r: c.post(
            f"/api/v1/conversations/{x.conversation_id}/reply", json={"text": f"Reply {x.marker}"}, headers=_h(x, r)
        ),
        lambda c, x, r: any(
            m["text"] == f"Reply {x.marker}" for m in x.get(c, f"/api/v1/conversations/{x.conversation_id}/messages")
        ),
    ),
    "note": Action(
        lambda c, x, r: c.post(
            f"/api/v1/conversations/{x.conversation_id}/notes", json={"text": f"Note {x.marker}"}, headers=_h(x, r)
        ),
        lambda c, x, r: any(
            m["text"] == f"Note {x.marker}" for m in x.get(c, f"/api/v1/conversations/{x.conversation_id}/messages")
        ),
    ),
    "update_contact": Action(
        lambda c, x, r: c.patch(
            f"/api/v1/contacts/{x.survivor_id}", json={"name": f"Anna {x.marker}"}, headers=_h(x, r)
        ),
        lambda c, x, r: x.get(c, f"/api/v1/contacts/{x.survivor_id}")["name"] == f"Anna {x.marker}",
    ),
    "resolve_conversation": Action(
        lambda c, x, r: c.patch(
            f"/api/v1/conversations/{x.conversation_id}",
            json={"status": "resolved", "priority": "high", "labels": ["vip"]},
            headers=_h(x, r),
        ),
        lambda c, x, r: x.get(c, f"/api/v1/conversations/{x.conversation_id}")["status"] == "resolved",
    ),
    "read_lists": Action(
        lambda c, x, r: next(
            (
                resp
                for resp in (
                    c.get(u, headers=_h(x, r))
                    for u in (
                        "/api/v1/conversations",
                        "/api/v1/contacts",
                        "/api/v1/users",
                        "/api/v1/teams",
                        "/api/v1/inboxes",
                        "/api/v1/contacts/merge-suggestions",
                    )
                )
                if resp.status_code != 200
            ),
            c.get("/api/v1/auth/me", headers=_h(x, r)),
        ),
        None,
    ),
}


def _change_own_role(c, x, r):
    if r == "owner":
        email = f"co-owner-{x.marker}@{x.org.slug}.example.com"
        created = post_user(c, _h(x, "owner"), email, "Co-owner", "owner", "a long co-owner password")
        assert created.status_code == 201, created.text
    return c.patch(
        f"/api/v1/users/{x.org.users[r]}", json={"role": "supervisor" if r == "agent" else "agent"}, headers=_h(x, r)
    )


ALLOWED, DENIED = True, False
# action -> allowed for (agent, supervisor, admin, owner)
MATRIX: dict[str, tuple[bool, bool, bool, bool]] = {
    "create_user": (DENIED, DENIED, ALLOWED, ALLOWED),
    "create_owner": (DENIED, DENIED, DENIED, ALLOWED),
    "create_team": (DENIED, DENIED, ALLOWED, ALLOWED),
    "rename_team": (DENIED, DENIED, ALLOWED, ALLOWED),
    "set_team_members": (DENIED, DENIED, ALLOWED, ALLOWED),
    "delete_team": (DENIED, DENIED, ALLOWED, ALLOWED),
    "create_inbox": (DENIED, DENIED, ALLOWED, ALLOWED),
    "update_inbox": (DENIED, DENIED, ALLOWED, ALLOWED),
    "reveal_secrets": (DENIED, DENIED, ALLOWED, ALLOWED),
    "update_tenant": (DENIED, DENIED, ALLOWED, ALLOWED),
    "read_audit": (DENIED, DENIED, ALLOWED, ALLOWED),
    "merge_contacts": (DENIED, ALLOWED, ALLOWED, ALLOWED),
    "dismiss_suggestion": (DENIED, ALLOWED, ALLOWED, ALLOWED),
    "assign_to_someone_else": (DENIED, ALLOWED, ALLOWED, ALLOWED),
    "rename_another_user": (DENIED, DENIED, ALLOWED, ALLOWED),
    "deactivate_another_user": (DENIED, DENIED, ALLOWED, ALLOWED),
    "promote_to_owner": (DENIED, DENIED, DENIED, ALLOWED),
    "edit_the_owner": (DENIED, DENIED, DENIED, ALLOWED),
    "change_own_role": (DENIED, DENIED, ALLOWED, ALLOWED),
    "rename_self": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "reply": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "note": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "update_contact": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "resolve_conversation": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    "read_lists": (ALLOWED, ALLOWED, ALLOWED, ALLOWED),
}


def test_matrix_covers_every_action():
    assert set(MATRIX) == set(ACTIONS)


@pytest.mark.parametrize("action", list(MATRIX))
def test_role_matrix(client, org, action):
    """Each role in turn (on fresh rows of one organization): allowed means 2xx and done, denied
    means 403 and nothing done."""
    step = ACTIONS[action]
    applied = step.applied or (lambda c, x, r: False)
    wrong = []
    for role, allowed in zip(ROLES, MATRIX[action], strict=True):
        x = make_ctx(client, org)
        assert not applied(client, x, role), f"{role} {action}: the effect is there before the request"
        response = step.request(client, x, role)
        if allowed:
            if not 200 <= response.status_code < 300:
                wrong.append(f"{role} may {action} but got {response.status_code} {response.text[:200]}")
            elif step.applied is not None and not applied(client, x, role):
                wrong.append(f"{role} {action} answered {response.status_code} but changed nothing")
            if step.undo:
                step.undo(client, x, role)
        else:
            if response.status_code != 403 or not response.headers["content-type"].startswith(PROBLEM):
                wrong.append(
                    f"{role} may not {action} but got {response.status_code}"
                    f" {response.headers['content-type']} {response.text[:200]}"
                )
            else:
                body = response.json()
                assert body["status"] == 403 and body["title"] == "Forbidden", body
                # A sentence a person can act on, not a code.
                assert len(body["detail"]) > 25 and " " in body["detail"] and body["detail"].endswith("."), body
            if applied(client, x, role):
                wrong.append(f"{role} {action} was refused but its effect is there")
        # The process keeps serving the caller.
        assert client.get("/api/v1/auth/me", headers=org.headers(role)).status_code == 200
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("action", ["create_user", "create_team", "create_inbox", "read_audit", "merge_contacts"])
def test_agent_refusal_names_role_and_permission(client, ctx, action):
    detail = ACTIONS[action].request(client, ctx, "agent").json()["detail"]
    permission = {
        "create_user": "manage_users",
        "create_team": "manage_teams",
        "create_inbox": "manage_inboxes",
        "read_audit": "read_audit",
        "merge_contacts": "merge_contacts",
    }[action]
    assert detail == f"Your role (agent) does not allow this action ({permission}).", detail


def test_admin_cannot_create_an_owner_and_is_told_why(client, ctx):
    response = ACTIONS["create_owner"].request(client, ctx, "admin")
    assert response.status_code == 403
    assert response.json()["detail"] == 'You cannot give or change the role "owner".'
    # An admin may still create an admin; an owner may create an owner.
    made = client.post(
        "/api/v1/users",
        json={"email": f"adm-{ctx.marker}@example.com", "name": "Admin Due", "role": "admin"},
        headers=ctx.org.headers("admin"),
    )
    assert made.status_code == 201 and made.json()["role"] == "admin"
    owner = client.post(
        "/api/v1/users",
        json={"email": f"own-{ctx.marker}@example.com", "name": "Owner Due", "role": "owner"},
        headers=ctx.org.headers("owner"),
    )
    assert owner.status_code == 201 and owner.json()["role"] == "owner"


def test_agent_takes_an_unassigned_conversation_and_releases_it(client, ctx):
    url = f"/api/v1/conversations/{ctx.conversation_id}"
    agent, agent_id = ctx.org.headers("agent"), ctx.org.users["agent"]
    assert client.get(url, headers=agent).json()["assignee_id"] is None
    taken = client.patch(url, json={"assignee_id": agent_id}, headers=agent)
    assert taken.status_code == 200, taken.text
    assert taken.json()["assignee_id"] == agent_id
    mine = client.get("/api/v1/conversations", params={"mine": True}, headers=agent).json()["items"]
    assert [c["id"] for c in mine] == [ctx.conversation_id]
    released = client.patch(url, json={"assignee_id": None}, headers=agent)
    assert released.status_code == 200, released.text
    assert released.json()["assignee_id"] is None
    events = [e for e in client.get(f"{url}/timeline", headers=agent).json() if e["kind"] == "assigned"]
    assert [(e["data"]["from"], e["data"]["to"], e["actor_id"]) for e in events] == [
        (None, agent_id, agent_id),
        (agent_id, None, agent_id),
    ]


def test_agent_cannot_take_release_or_hand_over_what_is_not_theirs(client, ctx):
    url = f"/api/v1/conversations/{ctx.conversation_id}"
    agent, agent_id = ctx.org.headers("agent"), ctx.org.users["agent"]
    supervisor_id = ctx.org.users["supervisor"]
    assert (
        client.patch(url, json={"assignee_id": supervisor_id}, headers=ctx.org.headers("supervisor")).status_code == 200
    )
    for body in ({"assignee_id": agent_id}, {"assignee_id": None}, {"assignee_id": ctx.org.users["admin"]}):
        response = client.patch(url, json=body, headers=agent)
        assert response.status_code == 403, (body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert "take an unassigned conversation or release your own" in response.json()["detail"]
        assert client.get(url, headers=ctx.org.headers("supervisor")).json()["assignee_id"] == supervisor_id
    # Once it is theirs, an agent still cannot hand it to a colleague.
    assert client.patch(url, json={"assignee_id": agent_id}, headers=ctx.org.headers("supervisor")).status_code == 200
    assert client.patch(url, json={"assignee_id": supervisor_id}, headers=agent).status_code == 403
    assert client.get(url, headers=agent).json()["assignee_id"] == agent_id


def test_supervisor_merges_and_assigns_but_cannot_create_inboxes_or_users(client, ctx):
    supervisor = ctx.org.headers("supervisor")
    merged = client.post(
        f"/api/v1/contacts/{ctx.survivor_id}/merge", json={"other_id": ctx.merged_id}, headers=supervisor
    )
    assert merged.status_code == 200 and merged.json()["id"] == ctx.survivor_id
    assigned = client.patch(
        f"/api/v1/conversations/{ctx.conversation_id}",
        json={"assignee_id": ctx.org.users["agent"], "team_id": ctx.team_id},
        headers=supervisor,
    )
    assert assigned.status_code == 200 and assigned.json()["assignee_id"] == ctx.org.users["agent"]
    assert client.post("/api/v1/inboxes", json={"name": "x", "channel": "api"}, headers=supervisor).status_code == 403
    assert (
        client.post(
            "/api/v1/users",
            json={"email": f"s-{ctx.marker}@example.com", "name": "S", "role": "agent"},
            headers=supervisor,
        ).status_code
        == 403
    )


def test_tokens_of_others_can_be_revoked_only_by_admins(client, ctx):
    owner_token = client.post("/api/v1/tokens", json={"name": "owner's"}, headers=ctx.org.headers("owner")).json()
    agent_token = client.post("/api/v1/tokens", json={"name": "agent's"}, headers=ctx.org.headers("agent")).json()
    refused = client.delete(f"/api/v1/tokens/{owner_token['id']}", headers=ctx.org.headers("agent"))
    assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM)
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {owner_token['token']}"}).status_code == 200
    assert client.delete(f"/api/v1/tokens/{agent_token['id']}", headers=ctx.org.headers("agent")).status_code == 204
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {agent_token['token']}"}).status_code == 401


def test_last_owner_cannot_be_demoted_or_deactivated(client, org):
    owner = org.users["owner"]
    demote = client.patch(f"/api/v1/users/{owner}", json={"role": "admin"}, headers=org.headers("owner"))
    assert demote.status_code == 422 and demote.json()["errors"][0]["field"] == "role"
    email = f"owner2@{org.slug}.example.com"
    second = post_user(client, org.headers("owner"), email, "Second Owner", "owner", "another long password").json()
    assert (
        client.patch(f"/api/v1/users/{owner}", json={"role": "admin"}, headers=org.headers("owner")).status_code == 200
    )
    alone = client.patch(f"/api/v1/users/{second['id']}", json={"active": False}, headers=org.headers("admin"))
    assert alone.status_code in (403, 422)


def test_password_change_ends_sessions(client, rt, org):
    from starlette.testclient import TestClient

    from raccordo.bootstrap.http import create_app

    with TestClient(create_app(rt, run_delivery=False), client=("10.9.8.7", 1234)) as browser:
        login = browser.post("/api/v1/auth/login", json={"email": org.email("agent"), "password": org.password})
        assert login.status_code == 200
        assert browser.get("/api/v1/auth/me").status_code == 200
        changed = client.patch(
            f"/api/v1/users/{org.users['agent']}",
            json={"password": "a brand new password"},
            headers=org.headers("admin"),
        )
        assert changed.status_code == 200
        assert browser.get("/api/v1/auth/me").status_code == 401
