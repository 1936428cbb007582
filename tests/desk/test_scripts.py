"""Guided scripts over HTTP (REST API and desktop pages), on SQLite and PostgreSQL: design CRUD with
versions, validation, runs with branches saving attributes, live changes, roles, tenant isolation."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event
from raccordo.record.models import TimelineEvent
from tests.support.pages import a_conversation, login, set_language

HX = {"HX-Request": "true"}

STEPS = [
    {"id": "intro", "prompt": "Buongiorno {{contact.first_name}}, sono {{agent.name}}.", "next": "motivo"},
    {
        "id": "motivo",
        "title": "Motivo",
        "prompt": "Perché vuole restituire il prodotto?",
        "answer": "choice",
        "options": ["Difettoso", "Ripensamento"],
        "target": "conversation.return_reason",
        "branches": {"Difettoso": "foto"},
        "next": "ordine",
    },
    {
        "id": "foto",
        "prompt": "Ha delle foto del difetto?",
        "answer": "yes_no",
        "target": "conversation.has_photos",
        "next": "ordine",
    },
    {
        "id": "ordine",
        "prompt": "Numero d'ordine? ({{answer.motivo}})",
        "answer": "number",
        "target": "contact.last_order",
        "next": "fine",
    },
    {"id": "fine", "prompt": "Grazie, il reso è registrato."},
]


def make_script(client, org, name=None, steps=None, **extra):
    response = client.post(
        "/api/v1/scripts",
        json={"name": name or f"Reso {uuid.uuid4().hex[:6]}", "steps": steps or STEPS, **extra},
        headers=org.headers("admin"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_design_crud_versions_and_validation(client, org):
    script = make_script(client, org, description="Resi")
    assert script["version"] == 1 and [s["id"] for s in script["steps"]] == [
        "intro",
        "motivo",
        "foto",
        "ordine",
        "fine",
    ]
    admin = org.headers("admin")
    # Agents read, only admins design.
    assert client.get("/api/v1/scripts", headers=org.headers("agent")).status_code == 200
    assert (
        client.post(
            "/api/v1/scripts", json={"name": "X", "steps": STEPS}, headers=org.headers("supervisor")
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/v1/scripts/{script['id']}", json={"active": False}, headers=org.headers("agent")
        ).status_code
        == 403
    )
    # Precise 422s naming the field.
    cases = [
        ({"steps": [{**STEPS[0], "next": "nowhere"}]}, "steps.0.next", "nowhere"),
        (
            {"steps": [{"id": "a", "prompt": "?", "next": "b"}, {"id": "b", "prompt": "!", "next": "a"}]},
            "steps.0.next",
            "a → b → a",
        ),
        ({"steps": [{"id": "a", "prompt": "?"}, {"id": "b", "prompt": "!"}]}, "steps.1.id", "b"),
        ({"steps": [{"id": "a", "prompt": "?", "answer": "text", "target": "ticket.x"}]}, "steps.0.target", "ticket.x"),
        ({"steps": []}, "steps", None),
        ({"steps": STEPS, "channels": ["fax"]}, "channels", "fax"),
    ]
    for body, field, mentioned in cases:
        response = client.post("/api/v1/scripts", json={"name": f"Bad {uuid.uuid4().hex[:4]}", **body}, headers=admin)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert field in response.text, problem
        if mentioned:
            assert mentioned in problem["detail"], problem
    duplicate = client.post("/api/v1/scripts", json={"name": script["name"].upper(), "steps": STEPS}, headers=admin)
    assert duplicate.status_code == 409
    # A new design is a new version; the old one is kept, unchanged; the same design adds nothing.
    changed = [{**STEPS[0], "prompt": "Salve!"}, *STEPS[1:]]
    patched = client.patch(
        f"/api/v1/scripts/{script['id']}", json={"steps": changed, "description": "Resi e rimborsi"}, headers=admin
    ).json()
    assert (
        patched["version"] == 2
        and patched["steps"][0]["prompt"] == "Salve!"
        and patched["description"] == "Resi e rimborsi"
    )
    assert (
        client.patch(f"/api/v1/scripts/{script['id']}", json={"steps": changed}, headers=admin).json()["version"] == 2
    )
    versions = client.get(f"/api/v1/scripts/{script['id']}/versions", headers=admin).json()
    assert [v["number"] for v in versions] == [2, 1] and versions[1]["steps"][0]["prompt"] == STEPS[0]["prompt"]
    assert client.delete(f"/api/v1/scripts/{script['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/scripts/{script['id']}", headers=admin).status_code == 404


def test_a_run_follows_branches_and_saves_attributes(client, org, rt):
    script = make_script(client, org)
    conversation_id, _ = a_conversation(client, org)
    agent = org.headers("agent")
    conversation = client.get(f"/api/v1/conversations/{conversation_id}", headers=agent).json()
    assert script["id"] in [
        s["id"] for s in client.get(f"/api/v1/conversations/{conversation_id}/scripts", headers=agent).json()
    ]
    run = client.post(
        f"/api/v1/conversations/{conversation_id}/script-runs", json={"script_id": script["id"]}, headers=agent
    )
    assert run.status_code == 201, run.text
    run = run.json()
    assert run["current_step"]["id"] == "intro" and run["current_step"]["prompt"].endswith("sono Agent User.")
    assert (
        client.post(
            f"/api/v1/conversations/{conversation_id}/script-runs", json={"script_id": script["id"]}, headers=agent
        ).status_code
        == 409
    )
    url = f"/api/v1/script-runs/{run['id']}"

    def answer(value, step_id=None):
        return client.post(f"{url}/answer", json={"value": value, "step_id": step_id}, headers=agent)

    assert answer(None, "intro").json()["current_step"]["id"] == "motivo"
    # A bad answer is a 422 on value, and the run stays where it was.
    bad = answer("Rotto")
    assert bad.status_code == 422 and "value" in bad.text and "Difettoso, Ripensamento" in bad.json()["detail"]
    assert client.get(url, headers=agent).json()["current_step"]["id"] == "motivo"
    # An answer to a step the run is no longer on is refused.
    assert answer("Difettoso", "intro").status_code == 409
    after = answer("difettoso", "motivo").json()
    assert after["current_step"]["id"] == "foto"  # the branch
    assert answer("no").json()["current_step"]["id"] == "ordine"
    ordine = client.get(url, headers=agent).json()["current_step"]
    assert ordine["prompt"] == "Numero d'ordine? (Difettoso)" and ordine["target"] == "contact.last_order"
    assert answer("tre").status_code == 422
    done = answer("10482").json()
    assert done["current_step"]["id"] == "fine"
    done = answer(None).json()
    assert done["status"] == "completed" and done["current_step"] is None and done["finished_at"]
    assert [a["step"] for a in done["answers"]] == ["intro", "motivo", "foto", "ordine", "fine"]
    # The answers are in the conversation's and the contact's attributes.
    got = client.get(f"/api/v1/conversations/{conversation_id}", headers=agent).json()
    assert got["custom_attributes"]["return_reason"] == "Difettoso" and got["custom_attributes"]["has_photos"] is False
    contact = client.get(f"/api/v1/contacts/{conversation['contact_id']}", headers=agent).json()
    assert contact["custom_attributes"]["last_order"] == 10482
    with unit_of_work(rt.sessions) as session:
        kinds = list(
            session.scalars(
                select(TimelineEvent.kind)
                .where(TimelineEvent.conversation_id == conversation_id, TimelineEvent.kind.like("script_%"))
                .order_by(TimelineEvent.id)
            )
        )
        assert kinds == ["script_started", "script_answered", "script_answered", "script_answered", "script_completed"]
        events = list(
            session.scalars(select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "script.run_updated"))
        )
        assert events and all(e.conversation_id == conversation_id for e in events)
    # Back reopens a completed run at its last step; at the start there is nothing to go back to.
    reopened = client.post(f"{url}/back", headers=agent).json()
    assert reopened["status"] == "in_progress" and reopened["current_step"]["id"] == "fine"
    for _ in range(4):
        assert client.post(f"{url}/back", headers=agent).status_code == 200
    assert client.get(url, headers=agent).json()["current_step"]["id"] == "intro"
    assert client.post(f"{url}/back", headers=agent).status_code == 409
    abandoned = client.post(f"{url}/abandon", headers=agent).json()
    assert abandoned["status"] == "abandoned"
    assert answer(None).status_code == 409 and client.post(f"{url}/abandon", headers=agent).status_code == 409
    assert [
        r["status"] for r in client.get(f"/api/v1/conversations/{conversation_id}/script-runs", headers=agent).json()
    ] == ["abandoned"]


def test_live_changes_move_runs_whose_step_still_exists(client, org, rt):
    script = make_script(client, org)
    first, _ = a_conversation(client, org)
    second, _ = a_conversation(client, org)
    agent, admin = org.headers("agent"), org.headers("admin")
    runs = []
    for conversation_id in (first, second):
        run = client.post(
            f"/api/v1/conversations/{conversation_id}/script-runs", json={"script_id": script["id"]}, headers=agent
        ).json()
        client.post(f"/api/v1/script-runs/{run['id']}/answer", json={"value": None}, headers=agent)
        runs.append(run["id"])
    # The second run moves on to "ordine"; the first stays at "motivo".
    client.post(f"/api/v1/script-runs/{runs[1]}/answer", json={"value": "Ripensamento"}, headers=agent)
    # The admin drops "motivo" and rewords "ordine".
    new = [STEPS[0] | {"next": "ordine"}, STEPS[3] | {"prompt": "Mi dice il numero d'ordine?"}, STEPS[4]]
    assert client.patch(f"/api/v1/scripts/{script['id']}", json={"steps": new}, headers=admin).json()["version"] == 2
    kept = client.get(f"/api/v1/script-runs/{runs[0]}", headers=agent).json()
    moved = client.get(f"/api/v1/script-runs/{runs[1]}", headers=agent).json()
    assert kept["version"] == 1 and kept["current_step"]["id"] == "motivo"  # its step is gone: it keeps its version
    assert moved["version"] == 2 and moved["current_step"]["prompt"] == "Mi dice il numero d'ordine?"
    assert (
        client.post(f"/api/v1/script-runs/{runs[0]}/answer", json={"value": "Difettoso"}, headers=agent).json()[
            "current_step"
        ]["id"]
        == "foto"
    )
    assert (
        client.post(f"/api/v1/script-runs/{runs[1]}/answer", json={"value": "7"}, headers=agent).json()["current_step"][
            "id"
        ]
        == "fine"
    )
    with unit_of_work(rt.sessions) as session:
        changed = {
            e.conversation_id
            for e in session.scalars(
                select(Event).where(Event.tenant_id == org.tenant_id, Event.kind == "script.changed")
            )
        }
    assert changed == {first, second}  # both panels hear about the new version


def test_applicability_inactive_scripts_and_tenant_isolation(client, org, other_org):
    conversation_id, _ = a_conversation(client, org)  # an API channel conversation
    admin, agent = org.headers("admin"), org.headers("agent")
    queue = client.post("/api/v1/queues", json={"name": f"Resi {uuid.uuid4().hex[:4]}"}, headers=admin).json()
    email_only = make_script(client, org, channels=["email"])
    queued = make_script(client, org, queue_ids=[queue["id"]])
    everywhere = make_script(client, org)
    off = make_script(client, org, active=False)
    listed = {s["id"] for s in client.get(f"/api/v1/conversations/{conversation_id}/scripts", headers=agent).json()}
    assert everywhere["id"] in listed and not listed & {email_only["id"], queued["id"], off["id"]}
    refused = client.post(
        f"/api/v1/conversations/{conversation_id}/script-runs", json={"script_id": off["id"]}, headers=agent
    )
    assert refused.status_code == 422 and "script_id" in refused.text
    # Another tenant's script, queue, conversation and run: 404 naming the id, nothing written.
    theirs = make_script(client, other_org)
    their_queue = client.post("/api/v1/queues", json={"name": "Loro"}, headers=other_org.headers("admin")).json()
    foreign = client.post(
        f"/api/v1/conversations/{conversation_id}/script-runs", json={"script_id": theirs["id"]}, headers=agent
    )
    assert foreign.status_code == 404 and str(theirs["id"]) in foreign.json()["detail"]
    assert (
        client.post(
            "/api/v1/scripts", json={"name": "Altrui", "steps": STEPS, "queue_ids": [their_queue["id"]]}, headers=admin
        ).status_code
        == 404
    )
    assert "Altrui" not in [s["name"] for s in client.get("/api/v1/scripts", headers=admin).json()]
    assert (
        client.patch(
            f"/api/v1/scripts/{everywhere['id']}", json={"queue_ids": [their_queue["id"]]}, headers=admin
        ).status_code
        == 404
    )
    assert client.get(f"/api/v1/scripts/{everywhere['id']}", headers=admin).json()["queue_ids"] == []
    assert client.get(f"/api/v1/conversations/{conversation_id}/script-runs", headers=agent).json() == []
    assert theirs["id"] not in {s["id"] for s in client.get("/api/v1/scripts", headers=admin).json()}


# --- pages ---------------------------------------------------------------------------------------


def _form(csrf: str, steps: list[dict], **extra) -> dict:
    data = {
        "csrf_token": csrf,
        "name": extra.pop("name", "Reso"),
        "description": "",
        "active": "1",
        "steps_count": str(len(steps)),
    }
    for i, s in enumerate(steps):
        data |= {
            f"s{i}-id": s["id"],
            f"s{i}-title": s.get("title", ""),
            f"s{i}-prompt": s["prompt"],
            f"s{i}-answer": s.get("answer") or "",
            f"s{i}-options": "\n".join(s.get("options", [])),
            f"s{i}-target": s.get("target") or "",
            f"s{i}-next": s.get("next") or "",
        }
        keys = ["yes", "no"] if s.get("answer") == "yes_no" else s.get("options", [])
        for k, key in enumerate(keys):
            data[f"s{i}-bkey-{k}"] = key
            data[f"s{i}-branch-{k}"] = s.get("branches", {}).get(key, "")
    return data | extra


def test_designer_page_edits_drafts_shows_errors_and_saves_versions(fresh, org, client, rt):
    agent = fresh()
    login(agent, org, "agent")
    assert agent.get("/admin/scripts").status_code == 403
    browser = fresh()
    csrf = login(browser, org, "admin")
    page = browser.get("/admin/scripts")
    assert page.status_code == 200 and 'href="/admin/scripts"' in page.text and 'name="s0-prompt"' in page.text
    name = f"Reso {uuid.uuid4().hex[:6]}"
    # Add a step: the draft comes back with two steps, nothing saved.
    added = browser.post("/admin/scripts", data=_form(csrf, STEPS[:1], name=name, op="add"))
    assert added.status_code == 200 and 'name="s1-prompt"' in added.text
    assert name not in [s["name"] for s in client.get("/api/v1/scripts", headers=org.headers()).json()]
    moved = browser.post("/admin/scripts", data=_form(csrf, STEPS[:2], name=name, op="down-0"))
    assert moved.text.index('value="motivo"') < moved.text.index('value="intro"')
    # Errors: every problem next to its field.
    broken = [
        STEPS[0] | {"next": "motivo"},
        STEPS[1] | {"options": ["Solo"], "branches": {}, "next": "ghost"},
        {"id": "Bad id", "prompt": ""},
    ]
    response = browser.post("/admin/scripts", data=_form(csrf, broken, name=name, op="save"))
    assert response.status_code == 422
    assert re.search(r'id="s1-options-error"[^>]*>[^<]*2', response.text)
    assert 'id="s1-next-error"' in response.text and "ghost" in response.text
    assert 'id="s2-id-error"' in response.text and 'id="s2-prompt-error"' in response.text
    # Branch selects appear for the options and save.
    saved = browser.post("/admin/scripts", data=_form(csrf, STEPS, name=name, op="save"))
    assert saved.status_code == 303, saved.text[:2000]
    script_id = int(saved.headers["location"].split("/")[3].split("?")[0])
    got = client.get(f"/api/v1/scripts/{script_id}", headers=org.headers()).json()
    assert got["steps"][1]["branches"] == {"Difettoso": "foto"} and got["version"] == 1
    edit = browser.get(f"/admin/scripts/{script_id}")
    assert 'name="s1-bkey-0" value="Difettoso"' in edit.text and "Difettoso → foto" in edit.text  # the flow preview
    # Saving again with a change makes version 2, live.
    changed = [STEPS[0] | {"prompt": "Salve"}, *STEPS[1:]]
    assert (
        browser.post(f"/admin/scripts/{script_id}", data=_form(csrf, changed, name=name, op="save")).status_code == 303
    )
    assert client.get(f"/api/v1/scripts/{script_id}", headers=org.headers()).json()["version"] == 2
    set_language(rt, org.users["admin"], "it")
    assert "Anteprima del flusso" in browser.get(f"/admin/scripts/{script_id}").text
    assert browser.post(f"/admin/scripts/{script_id}/delete", data={"csrf_token": csrf}).status_code == 303
    assert client.get(f"/api/v1/scripts/{script_id}", headers=org.headers()).status_code == 404


def test_runner_panel_beside_the_conversation(fresh, org, client, rt):
    script = make_script(client, org)
    conversation_id, _ = a_conversation(client, org)
    browser = fresh()
    csrf = login(browser, org, "agent")
    page = browser.get(f"/conversations/{conversation_id}").text
    assert f'hx-get="/conversations/{conversation_id}/script"' in page and 'id="customer-attributes"' in page
    panel = browser.get(f"/conversations/{conversation_id}/script").text
    assert f'<option value="{script["id"]}">' in panel
    headers = HX | {"X-CSRF-Token": csrf}
    assert (
        browser.post(
            f"/conversations/{conversation_id}/script/start", data={"script_id": ""}, headers=headers
        ).status_code
        == 422
    )
    started = browser.post(
        f"/conversations/{conversation_id}/script/start", data={"script_id": script["id"]}, headers=headers
    )
    assert started.status_code == 200 and "sono Agent User." in started.text
    run_id = int(re.search(r'data-run-id="(\d+)"', started.text).group(1))
    base = f"/conversations/{conversation_id}/script/{run_id}"
    assert "Perché vuole" in browser.post(f"{base}/answer", data={"step_id": "intro"}, headers=headers).text
    wrong = browser.post(f"{base}/answer", data={"step_id": "motivo"}, headers=headers)
    assert (
        wrong.status_code == 422
        and 'id="value-error"' in wrong.text
        and translate("script.answer_required", "en") in wrong.text
    )
    chosen = browser.post(f"{base}/answer", data={"step_id": "motivo", "value": "Ripensamento"}, headers=headers)
    assert chosen.status_code == 200 and "Numero d&#39;ordine? (Ripensamento)" in chosen.text
    assert chosen.headers["hx-trigger"] == "raccordo:attributes"  # the customer panel's attributes refresh
    attributes = browser.get(f"/conversations/{conversation_id}/attributes").text
    assert "return_reason" in attributes and "Ripensamento" in attributes
    back = browser.post(f"{base}/back", headers=headers)
    assert "Perché vuole" in back.text
    assert browser.post(f"{base}/abandon", data={}).status_code == 403  # no CSRF token
    assert "abandoned" in browser.post(f"{base}/abandon", headers=headers).text
    # Another conversation's path cannot reach this run.
    other_id, _ = a_conversation(client, org)
    assert browser.post(f"/conversations/{other_id}/script/{run_id}/back", headers=headers).status_code == 404
