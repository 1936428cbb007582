"""Writes the demo's organization and its service setup through the capability services: the tenant,
people and teams (accounts), inboxes (channels), skills, queues, rules and SLA policies (routing),
answer templates, wrap-up codes and the guided script (desk), and the agents' callbacks (agenda)."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import Team, Tenant, User
from raccordo.accounts.services import accounts
from raccordo.channels.models import Inbox
from raccordo.channels.services.inboxes import create_inbox
from raccordo.demo.domain.content import Content
from raccordo.demo.domain.plan import ConversationPlan, DemoPlan
from raccordo.desk.services import agenda, scripts, templates, wrapup
from raccordo.platform.errors import InvalidInput
from raccordo.platform.runtime import Runtime
from raccordo.record.models import Conversation
from raccordo.record.services.records import audit
from raccordo.routing.services import admin as routing_admin
from raccordo.routing.services import sla


@dataclass
class Org:
    """The organization as written: rows the history writer refers to, in the content's order."""

    content: Content
    tenant: Tenant
    users: list[User]  # in the content's staff order
    teams: dict[str, Team]
    inboxes: dict[str, Inbox]  # channel -> inbox

    def actor(self, index: int) -> Actor:
        user = self.users[index]
        return Actor(self.tenant.id, user.id, Role(user.role))

    def admin(self) -> Actor:
        return self.actor(self.content.organization.index_of("admin"))


def _fill(value: Any, **values: str) -> Any:
    """Inbox settings from the data, with ``{slug}``, ``{public_url}`` and ``{sandbox_url}`` filled in."""
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, list):
        return [_fill(item, **values) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, **values) for key, item in value.items()}
    return value


def create_organization(
    session: Session, rt: Runtime, content: Content, slug: str, password: str, sandbox_url: str
) -> Org:
    """``sandbox_url``: the provider sandbox the live messaging inboxes (WhatsApp) point at."""
    organization = content.organization
    tenant = accounts.create_tenant(
        session, slug, organization.tenant_name, region=organization.region, language=organization.language
    )
    users: list[User] = []
    for person in organization.staff:
        actor = system_actor(tenant.id) if not users else Actor(tenant.id, users[0].id, Role.OWNER)
        # Everyone shares the demo password: hash it once (argon2 is deliberately slow) and copy the
        # hash; ``accounts`` has no use case for setting a known hash, so the row's field is written.
        user = accounts.create_user(
            session,
            actor,
            email=person.email(slug),
            name=person.name,
            role=person.role,
            password=None if users else password,
            language=person.language,
        )
        user.password_hash = users[0].password_hash if users else user.password_hash
        users.append(user)
    org = Org(content, tenant, users, {}, {})
    admin = org.admin()
    for name, description in organization.teams.items():
        members = [users[i].id for i, person in enumerate(organization.staff) if name in person.teams]
        org.teams[name] = accounts.create_team(session, admin, name, description, members)
    public_url = rt.settings.resolved_public_url
    for channel, spec in organization.channels.items():
        if spec.settings is not None:
            settings = _fill(spec.settings, slug=slug, public_url=public_url, sandbox_url=sandbox_url.rstrip("/"))
            org.inboxes[channel] = create_inbox(
                session,
                rt.secretbox,
                admin,
                name=spec.inbox,
                channel=channel,
                settings=settings,
                secrets_={name: secrets.token_urlsafe(24) for name in spec.generated_secrets},
                business_hours=None,
            )[0]
            continue
        # A channel with no module yet: the inbox service refuses it, but the history needs its inbox
        # so conversations really switch channel. Written as a row (the narrowest way), audited like the
        # service does; a reply on it fails with "channel.not_installed" until the channel lands.
        inbox = Inbox(
            tenant_id=tenant.id,
            name=spec.inbox,
            channel=channel,
            identifier=secrets.token_urlsafe(12),
            settings={},
            business_hours={},
        )
        session.add(inbox)
        session.flush()
        audit(
            session,
            admin,
            "inbox.create",
            "inbox",
            inbox.id,
            {"name": spec.inbox, "channel": channel, "history_only": True},
        )
        org.inboxes[channel] = inbox
    return org


def create_routing(session: Session, org: Org) -> None:
    """Skills, one queue per team, rules by keyword and language, agents' skills and queues, SLA
    policies: new conversations in the demo are routed like in a real service."""
    setup, staff = org.content.setup, org.content.organization.staff
    admin = org.admin()
    for name in setup.skills:
        routing_admin.create_skill(session, admin, name)
    queues, team_queue = {}, {}
    for spec in setup.queues:
        values = {
            "name": spec["name"],
            "strategy": spec["strategy"],
            "offer_timeout_seconds": spec["offer_timeout_seconds"],
            **setup.queue_defaults,
        }
        queue = routing_admin.create_queue(
            session, admin, copy.deepcopy(values | {"business_hours": setup.office_hours})
        )
        queues[spec["name"]], team_queue[spec["team"]] = queue, queue
    for rule in setup.rules:
        values = {key: value for key, value in rule.items() if key != "queue"} | {"queue_id": queues[rule["queue"]].id}
        routing_admin.create_rule(session, admin, copy.deepcopy(values))
    for index, person in enumerate(staff):
        if person.role == "agent":
            routing_admin.set_agent_profile(
                session,
                admin,
                org.users[index].id,
                skills=dict(person.skills),
                queue_ids=[team_queue[team].id for team in person.teams],
            )
    for policy in setup.sla_policies:
        sla.create_policy(session, admin, copy.deepcopy(policy | {"business_hours": setup.office_hours}))


def create_desk_content(session: Session, org: Org) -> None:
    """Answer templates, wrap-up codes and the guided script, so the desktop's "/" picker, resolve
    codes and scripts work at once."""
    setup = org.content.setup
    admin = org.admin()
    language = org.content.organization.language
    for template in setup.templates:
        bodies = dict(template["bodies"])
        templates.create_template(
            session,
            admin,
            {"name": template["name"], "shortcut": template["shortcut"], "body": bodies[language], "bodies": bodies},
        )
    for code in setup.wrap_up_codes:
        wrapup.create_code(session, admin, dict(code))
    scripts.create_script(session, admin, copy.deepcopy(setup.script))


def create_agenda(session: Session, org: Org, plan: DemoPlan, conversations: dict[int, Conversation]) -> None:
    """The planned callbacks, each on the first open, assigned conversation the agenda accepts it for."""
    candidates: list[ConversationPlan] = sorted(
        (p for p in plan.conversations if p.status == "open" and p.agent is not None),
        key=lambda p: conversations[p.index].id,
    )
    wanted = list(plan.agenda)
    for conversation_plan in candidates:
        if not wanted:
            break
        item = wanted[0]
        assert conversation_plan.agent is not None
        try:
            with session.begin_nested():
                agenda.schedule(
                    session,
                    org.actor(conversation_plan.agent),
                    conversation_id=conversations[conversation_plan.index].id,
                    kind=item.kind,
                    due_at=item.due_at,
                    channel=item.channel,
                    note=item.note,
                    now=plan.now,
                )
        except InvalidInput:  # e.g. a phone callback for a customer with no phone number: try the next one
            continue
        wanted.pop(0)
