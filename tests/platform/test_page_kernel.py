"""The page kernel's shared rules, measured over HTTP: every admin page behaves the same on a row
that is gone, an htmx request never fails silently, the admin lists and the conversation page run
a bounded number of SQL statements however many rows a tenant has, and the vocabularies the
forms, the API schemas and the services use are the same StrEnums."""

from __future__ import annotations

import typing
import uuid
from datetime import UTC, datetime

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
from raccordo.desk.models import AnswerTemplate, WrapUpCode
from raccordo.desk.pages.pages import AWAY_REASONS, STATUSES
from raccordo.desk.services import scripts, side_panel_apps
from raccordo.platform.i18n import translate
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.domain.vocabularies import AwayReason
from raccordo.record import schemas as record_schemas
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.routing import schemas
from raccordo.routing.domain.routing import STRATEGIES as DOMAIN_STRATEGIES
from raccordo.routing.domain.vocabularies import OutOfHoursAction, RoutingStrategy, SlaAction
from raccordo.routing.models import RoutingQueue, RoutingRule, Skill, SlaPolicy
from raccordo.routing.pages.admin import OUT_OF_HOURS, SLA_ACTIONS, STRATEGIES
from raccordo.routing.services import admin as routing_admin
from raccordo.routing.services import sla
from tests.support.pages import a_conversation, login
from tests.support.statements import counting_client, request_statements

# The conversation page ran 27 statements of its own before its read model (31 with the login
# session's), measured with this test's data less the side-panel apps, and more with every inbox;
# now 20 on SQLite (with its BEGIN IMMEDIATE) with side-panel apps that apply, 19 on PostgreSQL,
# and the same for more rows.
CONVERSATION_PAGE_MAX_STATEMENTS = 20
ADMIN_LISTS = (
    "/admin/queues",
    "/admin/agents",
    "/admin/rules",
    "/admin/sla",
    "/admin/skills",
    "/admin/templates",
    "/admin/wrap-up-codes",
    "/admin/apps",
    "/admin/scripts",
    "/live",
)


def counted(browser, rt, path: str) -> int:
    """The statements of one page load (``browser`` is a ``counting_client``), not the app's background ones."""
    with request_statements(rt.engine) as seen:
        response = browser.get(path)
    assert response.status_code == 200, (path, response.text[:300])
    assert seen, f"no statement of {path} was counted"  # the page reads the database: the count reaches it
    return len(seen)


def add_rows(rt, org, n: int) -> None:
    """n more of everything an admin list shows, each with what its row displays (members, skills, capacity, queues)."""
    now = datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        owner = Actor(org.tenant_id, org.users["owner"], Role.OWNER)
        for _ in range(n):
            tag = uuid.uuid4().hex[:8]
            user = accounts.create_user(
                session, owner, email=f"a-{tag}@example.com", name=f"Agent {tag}", role="agent", password=None
            )
            skill = Skill(tenant_id=org.tenant_id, name=f"skill-{tag}", created_at=now)
            queue = RoutingQueue(tenant_id=org.tenant_id, name=f"Queue {tag}", created_at=now)
            session.add_all([skill, queue])
            session.flush()
            routing_admin.set_agent_profile(
                session, owner, user.id, skills={skill.name: 2}, capacity={"api": 3}, queue_ids=[queue.id]
            )
            scripts.create_script(
                session,
                owner,
                {"name": f"Script {tag}", "steps": [{"id": "intro", "prompt": "Buongiorno"}], "queue_ids": [queue.id]},
            )
            side_panel_apps.create_app(
                session,
                rt.secretbox,
                owner,
                {"name": f"App {tag}", "url": f"https://{tag}.example.com/panel", "queue_ids": [queue.id]},
            )
            session.add_all(
                [
                    RoutingRule(
                        tenant_id=org.tenant_id,
                        name=f"Rule {tag}",
                        queue_id=queue.id,
                        conditions=[],
                        required_skills={skill.name: 1},
                        created_at=now,
                    ),
                    SlaPolicy(
                        tenant_id=org.tenant_id,
                        name=f"SLA {tag}",
                        conditions=[],
                        first_response_seconds=600,
                        actions={},
                        created_at=now,
                    ),
                    AnswerTemplate(
                        tenant_id=org.tenant_id,
                        name=f"T {tag}",
                        name_key=f"t {tag}",
                        shortcut=f"t{tag}",
                        body="Hello",
                        bodies={"it": "Ciao"},
                        created_at=now,
                    ),
                    WrapUpCode(tenant_id=org.tenant_id, code=f"c{tag}", label=f"Code {tag}", created_at=now),
                ]
            )


def test_admin_lists_run_the_same_statements_for_more_rows(client, org, rt):
    browser = counting_client(client.app)
    login(browser, org, "admin")
    add_rows(rt, org, 1)
    few = {path: counted(browser, rt, path) for path in ADMIN_LISTS}
    add_rows(rt, org, 4)
    many = {path: counted(browser, rt, path) for path in ADMIN_LISTS}
    assert many == few


def test_conversation_page_runs_a_bounded_number_of_statements(org, client, rt):
    conversation_id, _ = a_conversation(client, org)
    for _ in range(3):
        a_conversation(client, org, "Ancora")
    add_rows(rt, org, 2)
    browser = counting_client(client.app)
    login(browser, org, "admin")
    with request_statements(rt.engine) as seen:
        assert browser.get("/").status_code == 303  # the login session's own statements, and nothing else
    session_cost = len(seen)
    count = counted(browser, rt, f"/conversations/{conversation_id}")
    assert count - session_cost <= CONVERSATION_PAGE_MAX_STATEMENTS, (count, session_cost)
    # More of everything the page lists (each a_conversation adds an inbox): not one more statement.
    for _ in range(3):
        a_conversation(client, org, "Ancora una")
    add_rows(rt, org, 3)
    assert counted(browser, rt, f"/conversations/{conversation_id}") == count


def test_a_deleted_row_answers_a_visible_error(fresh, org, rt):
    browser = fresh()
    csrf = login(browser, org, "admin")
    created = browser.post(
        "/admin/queues",
        data={
            "csrf_token": csrf,
            "name": "Temporanea",
            "strategy": "longest_idle",
            "active": "1",
            "members": str(org.users["agent"]),
        },
    )
    assert created.status_code == 303
    queue_path = created.headers["location"].split("?")[0]
    assert (
        f'name="members" value="{org.users["agent"]}" checked' in browser.get(queue_path).text
    )  # the edit page shows what was stored
    assert browser.post(f"{queue_path}/delete", data={"csrf_token": csrf}).status_code == 303
    queue_id = int(queue_path.rsplit("/", 1)[1])
    gone = translate("error.not_found_id", "en", kind=translate("noun.queues", "en"), id=queue_id)
    # A plain form: the HTML error page, 404, saying what is missing.
    page = browser.post(queue_path, data={"csrf_token": csrf, "name": "Di nuovo", "strategy": "longest_idle"})
    assert (
        page.status_code == 404
        and "text/html" in page.headers["content-type"]
        and gone in page.text
        and "<html" in page.text
    )
    # An htmx request: the same message as a fragment aimed at the page's error region, which
    # every desk page has (htmx swaps no 4xx into its own target: without this it stays silent).
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    for method, path in (("post", queue_path), ("post", f"{queue_path}/delete"), ("get", queue_path)):
        response = (
            getattr(browser, method)(path, data={"name": "x"} if method == "post" else None, headers=hx)
            if method == "post"
            else browser.get(path, headers=hx)
        )
        assert response.status_code == 404, path
        assert response.headers["hx-retarget"] == "#page-error" and response.headers["hx-reswap"] == "innerHTML", path
        assert 'role="alert"' in response.text and gone in response.text and "<html" not in response.text, path
    assert 'id="page-error"' in browser.get("/inbox").text
    # Each admin resource treats a missing row the same way (edit page, update, delete).
    for path in (
        "/admin/rules",
        "/admin/sla",
        "/admin/templates",
        "/admin/wrap-up-codes",
        "/admin/apps",
        "/admin/scripts",
        "/admin/agents",
    ):
        missing = f"{path}/{2**40}"
        assert browser.get(missing).status_code == 404, missing
        assert (
            browser.post(missing, data={"csrf_token": csrf, "name": "x"}, headers=hx).headers.get("hx-retarget")
            == "#page-error"
        ), missing
        if path != "/admin/agents":
            assert browser.post(f"{missing}/delete", data={"csrf_token": csrf}).status_code == 404, missing


def test_a_refused_delete_shows_why_on_the_list(fresh, org, rt):
    browser = fresh()
    csrf = login(browser, org, "admin")
    assert browser.post("/admin/skills", data={"csrf_token": csrf, "name": "tedesco"}).status_code == 303
    with unit_of_work(rt.sessions) as session:
        skill_id = session.query(Skill).filter(Skill.tenant_id == org.tenant_id).one().id
        queue = RoutingQueue(tenant_id=org.tenant_id, name="Germania", created_at=datetime.now(UTC))
        session.add(queue)
        session.flush()
        session.add(
            RoutingRule(
                tenant_id=org.tenant_id,
                name="DE",
                queue_id=queue.id,
                conditions=[],
                required_skills={"tedesco": 2},
                created_at=datetime.now(UTC),
            )
        )
    refused = browser.post(f"/admin/skills/{skill_id}/delete", data={"csrf_token": csrf})
    assert (
        refused.status_code == 409
        and translate("routing.skill_in_use", "en", rules="DE") in refused.text
        and "tedesco" in refused.text
    )


def _literal(annotation: typing.Any) -> set[str]:
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return set(typing.get_args(arg))
    raise AssertionError(f"no Literal in {annotation}")


def test_vocabularies_are_one_strenum_each_across_the_layers():
    # The API schemas (platform may not import routing) spell them as Literals: the same values.
    assert (
        _literal(schemas.QueueIn.model_fields["strategy"].annotation) == set(RoutingStrategy) == set(DOMAIN_STRATEGIES)
    )
    assert _literal(schemas.QueuePatch.model_fields["strategy"].annotation) == set(RoutingStrategy)
    assert _literal(schemas.QueueIn.model_fields["out_of_hours_action"].annotation) == set(OutOfHoursAction)
    assert _literal(schemas.QueuePatch.model_fields["out_of_hours_action"].annotation) == set(OutOfHoursAction)
    status_fields = [
        model.model_fields["status"]
        for module in (schemas, record_schemas)
        for model in vars(module).values()
        if isinstance(model, type) and hasattr(model, "model_fields") and "status" in model.model_fields
    ]
    conversation_statuses = [f for f in status_fields if "snoozed" in str(f.annotation)]
    assert conversation_statuses and all(
        _literal(f.annotation) == set(ConversationStatus) for f in conversation_statuses
    )
    # The services and the pages use the enums themselves.
    assert set(sla.ACTIONS) == set(SlaAction) and tuple(SlaAction) == SLA_ACTIONS
    assert set(routing_admin.OUT_OF_HOURS_ACTIONS) == set(OutOfHoursAction) and tuple(OutOfHoursAction) == OUT_OF_HOURS
    assert (
        tuple(RoutingStrategy) == STRATEGIES
        and tuple(ConversationStatus) == STATUSES
        and tuple(AwayReason) == AWAY_REASONS
    )
