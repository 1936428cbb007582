#!/usr/bin/env python3
"""Server time of the agent desktop: the inbox, its views, filters and search, opening a
conversation, replying and adding a note, on the demo data and then with 10,000 more
conversations.

For each backend: a fresh database, ``raccordo demo``'s data (``demo/seed.load_demo``),
then the real application (``create_app``, delivery loop off so nothing is sent) in this
process behind a timing ASGI wrapper; a supervisor and an agent of the demo log in through the
login page. Each request is timed from the moment the app receives it until its last body byte
is sent: server time, without a network or a browser. Baselines measured in the same run:
``GET /healthz`` through the same stack, and a bare ``SELECT 1`` in a unit of work. Every line
prints p50/p95/p99, the ratio of its p50 to the ``/healthz`` p50, and PASS or FAIL against the
issue's bar (p95 under 100 ms). Timings never make the bench fail; a wrong status does.

Then it adds ``--conversations`` more (default 10,000; contacts with email and phone, 2 to 4
messages each, teams, assignees, labels, queue items) and measures again. ``--explain`` prints
the query plan of the inbox list for each view and filter. ``python bench/desktop.py --help``;
bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench._support import (  # noqa: E402 - after the path
    DEFAULT_POSTGRES_URL,
    BenchError,
    Database,
    create_postgres_database,
    percentile,
)
from bench.desktop_measure import Desk, Line, bare_select  # noqa: E402 - after the path
from bench.desktop_workload import add_conversations  # noqa: E402 - after the path

BAR_MS = 100.0


def create_database(backend: str, data_dir: Path, postgres_url: str) -> Database:
    if backend == "sqlite":
        return Database(backend, f"sqlite:///{data_dir / 'desktop.db'}", None)
    return create_postgres_database(postgres_url)


@dataclass
class Fixture:
    """What the measured requests point at, read from the database."""

    conversation_id: int
    reply_id: int
    queue_id: int
    label: str
    name: str
    email_prefix: str
    phone: str
    cursor_url: str


def pick(rt: Any, tenant_id: int, desk: Desk) -> Fixture:
    from sqlalchemy import func, select

    from raccordo.platform.store.db import unit_of_work
    from raccordo.record.models import Contact, ContactIdentity, Conversation, ConversationLabel
    from raccordo.routing.models import QueueItem

    with unit_of_work(rt.sessions) as session:
        open_ids = list(
            session.scalars(
                select(Conversation.id)
                .where(Conversation.tenant_id == tenant_id, Conversation.status == "open")
                .order_by(Conversation.last_activity_at.desc())
                .limit(50)
            )
        )
        reply_id = session.scalar(
            select(Conversation.id)
            .where(
                Conversation.tenant_id == tenant_id,
                Conversation.status == "open",
                Conversation.last_channel.in_(("api", "widget")),
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        queue_id = session.scalar(
            select(QueueItem.queue_id)
            .where(QueueItem.tenant_id == tenant_id)
            .group_by(QueueItem.queue_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        label = (
            session.scalar(
                select(ConversationLabel.label)
                .where(ConversationLabel.tenant_id == tenant_id)
                .group_by(ConversationLabel.label)
                .order_by(func.count().desc())
                .limit(1)
            )
            or "vip"
        )
        contact = session.scalar(
            select(Contact)
            .join(Conversation, Conversation.contact_id == Contact.id)
            .where(Contact.tenant_id == tenant_id, Contact.name.is_not(None), Conversation.status == "open")
            .limit(1)
        )
        email = session.scalar(
            select(ContactIdentity.value)
            .where(ContactIdentity.tenant_id == tenant_id, ContactIdentity.kind == "email")
            .order_by(ContactIdentity.id)
            .limit(1)
        )
        phone = session.scalar(
            select(ContactIdentity.value)
            .where(ContactIdentity.tenant_id == tenant_id, ContactIdentity.kind == "phone")
            .order_by(ContactIdentity.id)
            .limit(1)
        )
    if not open_ids or reply_id is None:
        raise BenchError("the demo has no open conversation on the API or web chat inbox to answer")
    page = desk.as_role("supervisor").get("/inbox/list", params={"view": "all", "status": "any"}).text
    more = re.search(r'hx-get="(/inbox/list\?[^"]*cursor=[^"]+)"', page)
    return Fixture(
        open_ids[len(open_ids) // 2],
        reply_id,
        queue_id or 0,
        label,
        (contact.name or "rossi").split()[-1],
        (email or "mario@").split("@")[0][:5],
        phone or "+39345",
        more.group(1).replace("&amp;", "&") if more else "",
    )


def measure_all(desk: Desk, fx: Fixture) -> list[Line]:
    lines = [desk.measure("baseline GET /healthz", "supervisor", "GET", "/healthz", bar=False)]
    lines.append(desk.measure("inbox page (supervisor, all)", "supervisor", "GET", "/inbox"))
    lines.append(desk.measure("inbox page (agent, mine)", "agent", "GET", "/inbox"))
    for role, view in (("agent", "mine"), ("agent", "unassigned"), ("agent", "teams"), ("supervisor", "all")):
        lines.append(desk.measure(f"list: {view} ({role})", role, "GET", f"/inbox/list?view={view}&status=open"))
    lines.append(desk.measure("list: all, any status", "supervisor", "GET", "/inbox/list?view=all&status=any"))
    if fx.cursor_url:
        lines.append(desk.measure("list: all, next page (cursor)", "supervisor", "GET", fx.cursor_url))
    for name, query in (
        ("channel=email", "channel=email"),
        ("priority=high", "priority=high"),
        (f"label={fx.label}", f"label={fx.label}"),
        ("queue", f"queue={fx.queue_id}"),
        ("status=resolved", "status=resolved"),
    ):
        lines.append(
            desk.measure(
                f"list: all, {name}",
                "supervisor",
                "GET",
                f"/inbox/list?view=all&{'' if 'status' in query else 'status=any&'}{query}",
            )
        )
    for name, q in (
        ("common word", "ordine"),
        ("rare word", "aspirapolvere danneggiato"),
        ("prefix as typed", "rimbo"),
        ("contact name", fx.name),
        ("email prefix", fx.email_prefix),
        ("phone", f"{fx.phone[:3]} {fx.phone[3:6]} {fx.phone[6:9]}"),
    ):
        lines.append(
            desk.measure(f"search: {name} (supervisor)", "supervisor", "GET", f"/inbox/list?view=all&status=any&q={q}")
        )
    lines.append(
        desk.measure("search: common word (agent, teams)", "agent", "GET", "/inbox/list?view=teams&status=any&q=ordine")
    )
    lines.append(desk.measure("REST /api/v1/search", "supervisor", "GET", "/api/v1/search?q=ordine"))
    lines.append(desk.measure("open conversation (page)", "supervisor", "GET", f"/conversations/{fx.conversation_id}"))
    lines.append(
        desk.measure("conversation thread fragment", "supervisor", "GET", f"/conversations/{fx.conversation_id}/thread")
    )
    lines.append(
        desk.measure("conversation head fragment", "supervisor", "GET", f"/conversations/{fx.conversation_id}/head")
    )
    lines.append(
        desk.measure(
            "send a reply",
            "supervisor",
            "POST",
            f"/conversations/{fx.reply_id}/reply",
            data=lambda i: {"text": f"Gentile cliente, risposta {i}: ordine spedito"},
        )
    )
    lines.append(
        desk.measure(
            "add a note",
            "supervisor",
            "POST",
            f"/conversations/{fx.conversation_id}/note",
            data=lambda i: {"text": f"nota {i}: richiamare domani"},
        )
    )
    return lines


def report(title: str, lines: list[Line], select_line: Line) -> list[dict[str, Any]]:
    base = percentile(lines[0].samples, 50)
    print(f"-- {title}")
    print(
        f"{'request':44} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'x healthz':>10}"
        f"  bar (p95 < {BAR_MS:.0f} ms)"
    )
    out = []
    for line in [select_line, *lines]:
        f = line.figures()
        ratio = percentile(line.samples, 50) / base if base else float("nan")
        verdict = ("PASS" if f["p95"] < BAR_MS else "FAIL") if line.bar else "-"
        print(
            f"{line.name:44} {len(line.samples):>4} {f['p50']:>8.2f} {f['p95']:>8.2f} {f['p99']:>8.2f}"
            f" {ratio:>10.1f}  {verdict}"
        )
        out.append(
            {"name": line.name, "n": len(line.samples), **f, "ratio_to_healthz": round(ratio, 2), "verdict": verdict}
        )
    passed = sum(1 for o in out if o["verdict"] == "PASS")
    failed = sum(1 for o in out if o["verdict"] == "FAIL")
    print(f"{title}: {passed} PASS, {failed} FAIL")
    return out


# --------------------------------------------------------------------------- query plans


def explain(rt: Any, tenant_id: int, agent_id: int, fx: Fixture) -> None:
    """The plan of the inbox list query for each view and filter, as the service runs it."""
    from sqlalchemy import event

    from raccordo.accounts.domain.actor import Actor
    from raccordo.accounts.domain.roles import Role
    from raccordo.desk.services import inbox
    from raccordo.platform.store.db import unit_of_work
    from raccordo.record.services import conversations

    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "FROM conversations" in statement and "ORDER BY conversations.last_activity_at DESC" in statement:
            captured.append((statement, parameters))

    dialect = rt.engine.dialect.name
    cases = [
        ("mine", "agent", {}),
        ("unassigned", "agent", {}),
        ("teams", "agent", {}),
        ("all", "supervisor", {}),
        ("all", "supervisor", {"channel": "email"}),
        ("all", "supervisor", {"priority": "high"}),
        ("all", "supervisor", {"label": fx.label}),
        ("all", "supervisor", {"queue_id": fx.queue_id}),
        ("all", "supervisor", {"q": "ordine"}),
        ("teams", "agent", {"q": "ordine"}),
    ]
    for view, role, extra in cases:
        actor = Actor(tenant_id=tenant_id, user_id=agent_id, role=Role(role))
        captured.clear()
        event.listen(rt.engine, "before_cursor_execute", capture)
        try:
            with unit_of_work(rt.sessions) as session:
                fields = {"status": "open", **extra, **inbox.view_filters(session, actor, view)}
                conversations.list_conversations(session, actor, conversations.ConversationFilters(**fields), 25)
        finally:
            event.remove(rt.engine, "before_cursor_execute", capture)
        statement, parameters = captured[-1]
        raw = rt.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(("EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN ") + statement, parameters)
            plan = [
                " | ".join(str(c) for c in row[-1:]) if dialect == "sqlite" else row[0] for row in cursor.fetchall()
            ]
        finally:
            raw.close()
        print(f"plan: view={view} {extra or ''}")
        for row in plan:
            print(f"    {row}")


# --------------------------------------------------------------------------- one backend


def analyze(rt: Any) -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would give them a little later."""
    with rt.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def run_backend(backend: str, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from raccordo.accounts.models import Tenant, User
    from raccordo.bootstrap.install import install
    from raccordo.demo.seed import load_demo
    from raccordo.desk.models import SearchEntry
    from raccordo.platform.config import Settings
    from raccordo.platform.runtime import Runtime
    from raccordo.platform.store.db import unit_of_work
    from raccordo.platform.store.migrate import upgrade
    from raccordo.record.models import Conversation

    postgres_url = os.environ.get("RACCORDO_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    db = create_database(backend, data_dir, postgres_url)
    rt = None
    desk = None
    try:
        upgrade(db.url)
        settings = Settings(
            data_dir=data_dir / backend, database_url=db.url, secret_key="bench-secret-key", embedded_worker=False
        )
        install()  # tables, channels and domain-event subscriptions, as in the app
        rt = Runtime.build(settings)
        started = time.perf_counter()
        logins = load_demo(rt, seed=args.seed)
        demo_seconds = time.perf_counter() - started
        with unit_of_work(rt.sessions) as session:
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == logins.tenant_slug))
            agent_email = session.scalar(
                select(User.email).where(User.tenant_id == tenant_id, User.role == "agent").order_by(User.id).limit(1)
            )
            agent_id = session.scalar(select(User.id).where(User.email == agent_email))
            demo_count = session.scalar(
                select(func.count()).select_from(Conversation).where(Conversation.tenant_id == tenant_id)
            )
        supervisor = next((email, password) for role, email, password in logins.users if role == "supervisor")
        agent_password = next(password for role, email, password in logins.users if email == agent_email)
        version = rt.engine.dialect.server_version_info
        print(
            f"== desktop on {backend} ({'.'.join(map(str, version or ())) or '?'}): demo loaded in"
            f" {demo_seconds:.1f} s ({demo_count} conversations), {args.samples} samples per line"
        )
        analyze(rt)
        desk = Desk(rt, args.samples)
        desk.login("supervisor", supervisor[0], supervisor[1], logins.tenant_slug)
        desk.login("agent", agent_email, agent_password, logins.tenant_slug)
        fx = pick(rt, tenant_id, desk)
        result: dict[str, Any] = {
            "backend": backend,
            "database": ".".join(map(str, version or ())),
            "demo_conversations": demo_count,
            "samples": args.samples,
        }
        result["demo"] = report(
            f"{backend}: demo data ({demo_count} conversations)", measure_all(desk, fx), bare_select(rt, args.samples)
        )
        if args.conversations:
            added = add_conversations(rt, tenant_id, args.conversations, args.seed)
            with unit_of_work(rt.sessions) as session:
                total = session.scalar(
                    select(func.count()).select_from(Conversation).where(Conversation.tenant_id == tenant_id)
                )
                entries = session.scalar(
                    select(func.count()).select_from(SearchEntry).where(SearchEntry.tenant_id == tenant_id)
                )
            analyze(rt)
            print(
                f"added {added['conversations']} conversations in {added['seconds']} s:"
                f" {total} in the tenant, {entries} search entries"
            )
            first = fx
            fx = pick(rt, tenant_id, desk)
            fx.conversation_id, fx.reply_id = (
                first.conversation_id,
                first.reply_id,
            )  # the same demo conversations as before
            result["large"] = report(
                f"{backend}: {total} conversations", measure_all(desk, fx), bare_select(rt, args.samples)
            )
            result["added"] = added | {"total": total, "search_entries": entries}
        if args.explain:
            explain(rt, tenant_id, agent_id, fx)
        return result
    finally:
        if desk:
            desk.close()
        if rt:
            rt.close()
        if db.drop:
            db.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--conversations", type=int, default=10_000, help="conversations added after the demo measurements (0: none)"
    )
    parser.add_argument("--samples", type=int, default=40, help="measured requests per line (after 2 warm-up requests)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--explain", action="store_true", help="print the query plan of the inbox list per view and filter"
    )
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = {"python": platform.python_version(), "started": datetime.now(UTC).isoformat(), "backends": []}
    try:
        with tempfile.TemporaryDirectory(prefix="raccordo-bench-desktop-") as tmp:
            for backend in backends:
                results["backends"].append(run_backend(backend, args, Path(tmp)))
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "desktop.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
