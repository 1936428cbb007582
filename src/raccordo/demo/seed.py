"""``load_demo``: the demo tenant, planned from the content and a seed, written in one transaction.

Bottega Digitale, a fictional Italian e-commerce shop: an owner, an admin, a supervisor and 8
agents (Italian and English) in 3 teams, inboxes on several channels, 200 contacts with identities
on many channels (a few of them likely duplicates, so merge suggestions exist) and 500
conversations over the last 90 days, many of which switch channel mid-way; queues, routing rules,
SLA policies, answer templates, wrap-up codes, a guided script and scheduled callbacks.

- The words are data (``demo/data/*.json``, read by ``demo/content.py``).
- ``demo/domain/planner.py`` turns them and the seed into a plan, with no database: the same seed
  gives the same people, texts and timings (only the opaque inbox identifiers and the wall-clock
  ``now`` differ between runs).
- ``demo/organization.py`` and ``demo/writer.py`` apply the plan through the services.
- The WhatsApp inbox is live: created by the inbox service against the provider sandbox, which
  ``demo/sandbox_link.py`` tells its number, secrets and webhook URL each time the demo starts.
- The Messenger and Instagram inboxes are live the same way (``demo/live_meta.py``): a Facebook page and
  an Instagram professional account the sandbox plays, with the customers' page-scoped ids.
- The Telegram inbox is loaded as history only and made live at each start by ``demo/live_telegram.py``
  (polling the sandbox's Bot API).
- The load is one transaction: either the whole demo exists or nothing does, so "the tenant slug
  exists" is a reliable sign that the demo is already loaded.

The email addresses use reserved ``example`` domains, but the Italian mobile numbers and the
Telegram, Messenger and Instagram ids are random and may belong to real people: never connect the demo
tenant's inboxes to real providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from raccordo.accounts.domain.actor import system_actor
from raccordo.accounts.services import accounts
from raccordo.demo.content import load_content
from raccordo.demo.domain.planner import HISTORY_DAYS, plan_demo
from raccordo.demo.organization import create_agenda, create_desk_content, create_organization, create_routing
from raccordo.demo.sandbox_link import DEFAULT_SANDBOX_URL
from raccordo.demo.writer import HistoryClock, HistoryWriter, write_contacts
from raccordo.platform.errors import NotFound
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.services.import_contacts import tenant_by_slug

DEMO_SLUG = "demo"
DEMO_PASSWORD = "raccordo-demo"


@dataclass
class DemoLogins:
    tenant_slug: str
    users: list[tuple[str, str, str]]  # (role, email, password)


def demo_logins(slug: str, emails: set[str] | None = None) -> DemoLogins:
    """The staff's logins in the content's order (only those in ``emails``, when given)."""
    staff = load_content().organization.staff
    return DemoLogins(
        slug, [(p.role, p.email(slug), DEMO_PASSWORD) for p in staff if emails is None or p.email(slug) in emails]
    )


def load_demo(
    rt: Runtime,
    seed: int = 7,
    *,
    slug: str = DEMO_SLUG,
    now: datetime | None = None,
    sandbox_url: str = DEFAULT_SANDBOX_URL,
) -> DemoLogins:
    """Create the demo tenant (once) and return its logins; if ``slug`` exists, load nothing.

    ``now`` is where the history ends (the wall clock unless given); ``sandbox_url`` is the provider
    sandbox the WhatsApp inbox is created against (``sandbox_link.connect_sandbox`` moves it to
    another address later). Loading sends nothing: the history's replies are written as sent rows."""
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        try:
            tenant = tenant_by_slug(session, slug)
        except NotFound:
            pass
        else:
            return demo_logins(slug, {user.email for user in accounts.list_users(session, system_actor(tenant.id))})
        content = load_content()
        plan = plan_demo(content, seed, now)
        clock = HistoryClock(session, now - timedelta(days=HISTORY_DAYS + 400))
        org = create_organization(session, rt, content, slug, DEMO_PASSWORD, sandbox_url)
        write_contacts(session, org, plan.contacts, clock)
        conversations = HistoryWriter(session, rt, org, clock, plan).run()
        create_routing(session, org)
        create_desk_content(session, org)
        create_agenda(session, org, plan, conversations)
    return demo_logins(slug)
