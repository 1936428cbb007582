"""U+0000 is refused where input comes in, on both databases (PostgreSQL cannot store it; SQLite
would): a 422 that names the field, in the reader's language, with nothing stored and the process
serving on. API bodies (any depth, keys too), query and path parameters, page forms (a form read
through a ``FormReader`` shows it next to the field), and the payloads channels parse themselves."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from raccordo.channels.models import RawInbound
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.web.schemas import nul_field
from raccordo.record.models import Message
from raccordo.routing.models import Skill
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.orgs import make_org
from tests.support.pages import a_conversation, login
from tests.support.widget import ORIGIN, open_session, until, visitor_socket, widget_inbox

NUL = "\u0000"


def _refused(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["code"] == "error.text_nul_field"
    assert "U+0000" in body["detail"] and f'"{field}"' in body["detail"]
    return body


def _skills(rt, tenant_id: int) -> list[str]:
    with unit_of_work(rt.sessions) as session:
        return list(session.scalars(select(Skill.name).where(Skill.tenant_id == tenant_id)))


def test_nul_field_names_the_first_text_holding_the_character():
    assert nul_field({"name": "ok", "tags": ["a", "b"]}) is None
    assert nul_field({"name": f"in{NUL}glese"}) == "name"
    assert nul_field({"settings": {"title": {"it": "ok", "en": f"hi{NUL}"}}}) == "settings.title.en"
    assert nul_field({"attachments": [{"filename": "a"}, {"filename": f"b{NUL}"}]}) == "attachments.1.filename"
    assert nul_field({"attributes": {f"k{NUL}": 1}}) == "attributes.k\\u0000"
    assert nul_field(f"a{NUL}") == "body"
    assert nul_field([1, 2.5, None, True]) is None
    deep: list = [f"x{NUL}"]
    for _ in range(5000):  # deeper than Python's recursion limit: the walk is iterative
        deep = [deep]
    assert nul_field(deep) == ".".join(["0"] * 5001)


def test_api_body_with_nul_is_refused_naming_the_field(client, rt, org):
    owner = org.headers()
    _refused(client.post("/api/v1/skills", json={"name": f"in{NUL}glese"}, headers=owner), "name")
    italian = client.post("/api/v1/skills", json={"name": f"in{NUL}glese"}, headers={**owner, "Accept-Language": "it"})
    assert _refused(italian, "name")["detail"].startswith('Il campo "name" non può contenere')
    assert _skills(rt, org.tenant_id) == []
    # Nested fields and keys of free-form settings are named by their path.
    nested = client.post(
        "/api/v1/inboxes",
        json={"name": "W", "channel": "widget", "settings": {"allowed_origins": [ORIGIN], "title": {"it": f"a{NUL}"}}},
        headers=owner,
    )
    _refused(nested, "settings.title.it")
    # An escaped backslash before "u0000" is not the character: the body goes through.
    literal = client.post("/api/v1/skills", json={"name": "\\u0000 literal"}, headers=owner)
    assert literal.status_code == 201, literal.text
    assert _skills(rt, org.tenant_id) == ["\\u0000 literal"]
    assert client.get("/api/v1/skills", headers=owner).status_code == 200  # still serving


def test_query_and_path_parameters_with_nul_are_refused(client, org):
    owner = org.headers()
    _refused(client.get("/api/v1/contacts", params={"q": f"ros{NUL}si"}, headers=owner), "q")
    widget = client.post("/widget/ab%00cd/session", json={}, headers={"origin": ORIGIN})
    _refused(widget, "identifier")
    assert client.get("/api/v1/contacts", params={"q": "rossi"}, headers=owner).status_code == 200


def test_page_form_read_directly_answers_422_naming_the_field(fresh, client, rt, org):
    conversation_id, _ = a_conversation(client, org)
    browser = fresh()
    csrf = login(browser, org, "admin")
    with unit_of_work(rt.sessions) as session:
        before = session.scalar(select(func.count()).select_from(Message).where(Message.tenant_id == org.tenant_id))
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    reply = browser.post(f"/conversations/{conversation_id}/reply", data={"text": f"Buon{NUL}giorno"}, headers=hx)
    assert reply.status_code == 422, reply.text
    assert reply.headers["HX-Retarget"] == "#page-error"
    assert "&#34;text&#34;" in reply.text and "U+0000" in reply.text
    plain = browser.post(f"/conversations/{conversation_id}/note", data={"csrf_token": csrf, "text": f"a{NUL}"})
    assert plain.status_code == 422 and "U+0000" in plain.text and "<html" in plain.text.lower()
    with unit_of_work(rt.sessions) as session:
        after = session.scalar(select(func.count()).select_from(Message).where(Message.tenant_id == org.tenant_id))
    assert after == before
    assert browser.get(f"/conversations/{conversation_id}").status_code == 200  # still serving


def test_admin_form_shows_nul_as_an_error_on_its_field(fresh, rt, org):
    browser = fresh()
    csrf = login(browser, org, "admin")
    page = browser.post("/admin/skills", data={"csrf_token": csrf, "name": f"in{NUL}glese"})
    assert page.status_code == 422, page.text
    assert 'id="name-error"' in page.text and "(U+0000)" in page.text
    hx = browser.post(
        "/admin/skills", data={"name": f"in{NUL}glese"}, headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert hx.status_code == 422 and 'id="name-error"' in hx.text
    assert _skills(rt, org.tenant_id) == []
    saved = browser.post("/admin/skills", data={"csrf_token": csrf, "name": "inglese"})
    assert saved.status_code == 303, saved.text
    assert _skills(rt, org.tenant_id) == ["inglese"]


def test_channel_payload_with_nul_is_refused_and_kept_for_inspection(client, rt, org):
    inbox = create_api_inbox(client, org.headers())
    response = post_inbound(client, inbox, customer_message("m-nul", f"Buon{NUL}giorno"))
    _refused(response, "text")
    with unit_of_work(rt.sessions) as session:
        raw = session.scalars(select(RawInbound).where(RawInbound.inbox_id == inbox.id)).one()
        assert raw.status == "failed" and "error.text_nul_field" in (raw.error or "")
        assert json.loads(bytes(raw.body))["text"] == f"Buon{NUL}giorno"  # the payload as it came
        assert session.scalar(select(func.count()).select_from(Message).where(Message.inbox_id == inbox.id)) == 0
    assert post_inbound(client, inbox, customer_message("m-ok", "Buongiorno")).status_code == 200


def test_widget_message_with_nul_gets_an_error_frame_and_the_socket_stays(live):
    rt, client = live
    org = make_org(rt)
    identifier = widget_inbox(client, org)["identifier"]
    token = open_session(client, identifier).json()["visitor_token"]
    with visitor_socket(client, identifier, token, lang="it") as ws:
        until(ws, lambda f: f["type"] == "hello")
        ws.send_json({"type": "message", "client_id": "n-1", "text": f"Ciao{NUL}"})
        error = until(ws, lambda f: f["type"] == "error")
        assert error["status"] == 422 and error["field"] == "text" and error["client_id"] == "n-1"
        assert "U+0000" in error["message"]
        ws.send_json({"type": "message", "client_id": "n-2", "text": "Ciao"})
        assert until(ws, lambda f: f["type"] == "ack")["client_id"] == "n-2"
    with unit_of_work(rt.sessions) as session:
        texts = list(session.scalars(select(Message.text).where(Message.tenant_id == org.tenant_id)))
    assert texts == ["Ciao"]
