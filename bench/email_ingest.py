#!/usr/bin/env python3
"""Email ingest throughput: messages per second from a local IMAP mailbox, against a bare parse-only baseline.

For each backend (SQLite, PostgreSQL) the bench:

1. starts a private Dovecot (the test harness in ``tests/mailserver.py``: own configuration
   in a temporary directory, a free port on 127.0.0.1) and fills one mailbox with N varied
   messages written straight into its Maildir (plain text, multipart/alternative with
   quoted history, inline images, PDF attachments, Latin-1 and UTF-8, returning customers
   answering earlier messages);
2. measures the **baseline**: the same IMAP client fetches every unseen message in batches
   (``BODY.PEEK``, nothing marked) and parses each one with Python's ``email`` package
   (``BytesParser(policy=default)``, walking every part) and nothing else;
3. measures **ours**: the worker's poll of that mailbox, ``email_poller.poll_open_mailbox``:
   fetch, store raw and commit, parse (``domain/mail``), ingest (identity, conversation
   and threading, message, attachments, timeline, events), then mark seen;
4. checks that the database holds one inbound message and one processed raw payload per
   message, that every message is marked seen, and fails otherwise.

Both paths run in this process on the same machine, one after the other, so the ratio
ours/baseline is the figure to compare between commits. Run ``python bench/email_ingest.py
--help`` for the options; bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import (  # noqa: E402 - importable once the repository root is on the path
    DEFAULT_POSTGRES_URL,
    FIRST_NAMES,
    LAST_NAMES,
    SECRET_KEY,
    BenchError,
    create_database,
)

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40
PDF = b"%PDF-1.4\n" + b"0" * 6000 + b"\n%%EOF\n"
TEXTS = [
    "Buongiorno, il mio ordine non è ancora arrivato. Potete verificare?",
    "Salve, vorrei modificare l'indirizzo di consegna del pacco.",
    "Hello, I was charged twice for the same invoice, please refund one.",
    "Ho ricevuto un prodotto danneggiato, come posso fare il reso?",
    "Any update on my ticket? I wrote yesterday.",
]


def build_messages(count: int, seed: int, domain: str) -> list[bytes]:
    """N varied messages; about 40% answer an earlier one of the same customer (threading)."""
    rng = random.Random(seed)
    customers = max(1, count // 4)
    sent_by: dict[int, list[str]] = {}
    start = datetime(2025, 11, 1, 8, 0, tzinfo=UTC)
    out = []
    for n in range(count):
        customer = rng.randrange(customers)
        # Names repeat as in real data (900 names for count/4 customers), so duplicate suggestions do real work.
        name = (
            f"{FIRST_NAMES[customer % len(FIRST_NAMES)]} {LAST_NAMES[(customer // len(FIRST_NAMES)) % len(LAST_NAMES)]}"
        )
        address = f"cliente{customer}@{rng.choice(['example.it', 'example.com', 'posta.example'])}"
        mail = EmailMessage()
        mail["From"] = f"{name} <{address}>"
        mail["To"] = f"Assistenza <support@{domain}>"
        mail["Date"] = format_datetime(start + timedelta(minutes=n))
        mail["Message-ID"] = f"<bench-{seed}-{n}@{address.split('@')[1]}>"
        earlier = sent_by.get(customer, [])
        text = rng.choice(TEXTS)
        kind = rng.random()
        if earlier and rng.random() < 0.6:
            mail["Subject"] = "Re: Richiesta"
            mail["In-Reply-To"] = earlier[-1]
            mail["References"] = " ".join(earlier[-5:])
            text += (
                "\n\nIl giorno 1 nov 2025, Assistenza ha scritto:\n> Gentile cliente, ci scusiamo.\n> Cordiali saluti\n"
            )
        else:
            mail["Subject"] = rng.choice(["Richiesta", "Ordine in ritardo", "Fattura", "Reso"])
        mail.set_content(text, charset="iso-8859-1" if kind < 0.15 else "utf-8")
        if kind >= 0.15:
            mail.add_alternative(
                f'<div dir="ltr"><p>{text}</p><img src="https://tracker.example/p.gif?n={n}"></div>', subtype="html"
            )
        if 0.75 <= kind < 0.85:
            mail.make_mixed()
            mail.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"ricevuta-{n}.pdf")
        elif kind >= 0.95:
            mail.get_payload()[-1].add_related(
                PNG, maintype="image", subtype="png", cid=f"<img{n}@bench>"
            ) if mail.is_multipart() else None
        sent_by.setdefault(customer, []).append(mail["Message-ID"])
        out.append(mail.as_bytes())
    return out


def fill_maildir(dovecot: Any, user: str, messages: list[bytes]) -> None:
    """Deliver straight into the Maildir (as an MDA does); Dovecot indexes them at SELECT."""
    dovecot.append(
        user, b"From: warmup@example.com\r\nSubject: create\r\nMessage-ID: <create@bench>\r\n\r\nx\r\n", flags="\\Seen"
    )
    new = dovecot.maildir(user) / "new"
    for index, raw in enumerate(messages):
        path = new / f"{1764000000 + index}.M{index}P{os.getpid()}.bench"
        path.write_bytes(raw)
        os.chown(path, dovecot.mail_uid, dovecot.mail_gid)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def baseline(account: Any, folder: str, batch: int) -> int:
    from raccordo.channels.email.mailbox import ImapMailbox

    parser = BytesParser(policy=policy.default)
    box = ImapMailbox(account, folder)
    await box.open()
    parsed = 0
    try:
        uids = await box.unseen_uids()
        for start in range(0, len(uids), batch):
            for _, raw in await box.fetch_many(uids[start : start + batch]):
                message = parser.parsebytes(raw)
                for part in message.walk():
                    if not part.is_multipart():
                        part.get_payload(decode=True)
                parsed += 1
    finally:
        await box.close()
    return parsed


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from raccordo.accounts.domain.actor import system_actor
    from raccordo.accounts.services import accounts
    from raccordo.bootstrap import subscriptions
    from raccordo.bootstrap.channels import install_channels
    from raccordo.channels.email.channel import imap_account
    from raccordo.channels.email.mailbox import ImapMailbox
    from raccordo.channels.email.poller import PolledInbox, poll_open_mailbox
    from raccordo.channels.models import Inbox, RawInbound
    from raccordo.channels.services import inboxes
    from raccordo.channels.services.inbound import inbox_config
    from raccordo.platform.config import Settings
    from raccordo.platform.runtime import Runtime
    from raccordo.platform.store.db import unit_of_work
    from raccordo.platform.store.migrate import upgrade
    from raccordo.record.models import Message
    from tests.mailserver import Dovecot

    dovecot = Dovecot()  # first: a missing Dovecot fails before any database exists
    dovecot.add_user("support", "bench")
    work = Path(tempfile.mkdtemp(prefix=f"raccordo-email-bench-{backend}-"))
    database = None
    try:
        database = create_database(backend, work, args.postgres_url)
        url = database.url
        dovecot.start()
        messages = build_messages(args.messages, args.seed, "acme.example")
        fill_maildir(dovecot, "support", messages)
        upgrade(url)
        install_channels()  # what the app and the worker do when they start
        subscriptions.register()  # routing, SLA and the search index react as in the app
        rt = Runtime.build(
            Settings(data_dir=work / "data", database_url=url, secret_key=SECRET_KEY, email_fetch_batch=args.batch)
        )
        with unit_of_work(rt.sessions) as session:
            tenant = accounts.create_tenant(session, f"bench-{uuid.uuid4().hex[:6]}", "Bench")
            owner = accounts.create_user(
                session,
                system_actor(tenant.id),
                email="owner@bench.example",
                name="Owner",
                role="owner",
                password="bench password 1",
                language="en",
            )
            actor = system_actor(tenant.id).__class__(
                tenant.id, owner.id, system_actor(tenant.id).role.__class__("owner")
            )
            inbox, _ = inboxes.create_inbox(
                session,
                rt.secretbox,
                actor,
                name="Assistenza",
                channel="email",
                settings={
                    "address": "support@acme.example",
                    "imap_host": "127.0.0.1",
                    "imap_port": dovecot.port,
                    "imap_security": "none",
                    "imap_username": "support",
                },
                secrets_={"imap_password": "bench"},
                business_hours=None,
            )
            polled = PolledInbox(inbox.id, tenant.id, inbox.identifier)
            config = inbox_config(rt, session.get_one(Inbox, inbox.id))
        account, folder = imap_account(config, 60.0)  # type: ignore[misc]

        # Baseline: fetch + bare parse, nothing stored, nothing marked.
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        parsed = asyncio.run(asyncio.wait_for(baseline(account, folder, args.batch), args.time_limit))
        base_seconds, base_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        if parsed != args.messages:
            raise SystemExit(f"baseline parsed {parsed} of {args.messages} messages")

        # Ours: the worker's poll of the mailbox.
        async def ours() -> Any:
            box = ImapMailbox(account, folder)
            await box.open()
            try:
                return await poll_open_mailbox(rt, box, polled, args.batch)
            finally:
                await box.close()

        cpu0, t0 = cpu_seconds(), time.perf_counter()
        result = asyncio.run(asyncio.wait_for(ours(), args.time_limit))
        ours_seconds, ours_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0

        with unit_of_work(rt.sessions) as session:
            stored = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.inbox_id == inbox.id, Message.direction == "inbound")
            )
            distinct = session.scalar(
                select(func.count(func.distinct(Message.provider_message_id))).where(Message.inbox_id == inbox.id)
            )
            raw_processed = session.scalar(
                select(func.count())
                .select_from(RawInbound)
                .where(RawInbound.inbox_id == inbox.id, RawInbound.status == "processed")
            )
            conversations = session.scalar(
                text("SELECT count(DISTINCT conversation_id) FROM messages WHERE inbox_id = :i"), {"i": inbox.id}
            )
        unseen = sum(1 for _, flags in dovecot.messages("support") if "\\Seen" not in flags)
        rt.close()
        verification = {
            "messages_in_mailbox": args.messages,
            "fetched": result.fetched,
            "failed": result.failed,
            "messages_in_db": stored,
            "distinct_message_ids": distinct,
            "raw_inbound_processed": raw_processed,
            "conversations": conversations,
            "left_unseen": unseen,
        }
        ok = (
            result.fetched == stored == distinct == raw_processed == args.messages
            and result.failed == 0
            and unseen == 0
        )
        figures = {
            "backend": backend,
            "messages": args.messages,
            "batch": args.batch,
            "baseline": {
                "seconds": round(base_seconds, 3),
                "msgs_per_s": round(args.messages / base_seconds, 1),
                "cpu_ms_per_msg": round(1000 * base_cpu / args.messages, 3),
            },
            "ours": {
                "seconds": round(ours_seconds, 3),
                "msgs_per_s": round(args.messages / ours_seconds, 1),
                "cpu_ms_per_msg": round(1000 * ours_cpu / args.messages, 3),
            },
            "ratio": round(base_seconds / ours_seconds, 4),
            "verification": verification,
            "ok": ok,
            "python": platform.python_version(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return figures
    finally:
        dovecot.close()
        if database is not None and database.drop is not None:
            database.drop()
        shutil.rmtree(work, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Email messages per second parsed and ingested from a local IMAP mailbox,"
        " against a bare parse-only baseline."
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--messages", type=int, default=10_000, help="messages in the mailbox (default 10000)")
    parser.add_argument(
        "--batch", type=int, default=50, help="messages per IMAP FETCH (default 50, as RACCORDO_EMAIL_FETCH_BATCH)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=1800.0, help="seconds one path may take (default 1800)")
    parser.add_argument("--postgres-url", default=os.environ.get("RACCORDO_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    args.results_dir.mkdir(parents=True, exist_ok=True)
    failed = False
    for backend in backends:
        try:
            figures = run_backend(backend, args)
        except BenchError as exc:
            print(f"{backend}: bench failed: {exc}", file=sys.stderr)
            return 1
        (args.results_dir / f"email-ingest-{backend}.json").write_text(json.dumps(figures, indent=2) + "\n")
        b, o = figures["baseline"], figures["ours"]
        print(f"== {backend} — {args.messages} messages in one IMAP mailbox, fetch batch {args.batch}")
        print(f"{'path':<26}{'seconds':>9}{'msgs/s':>10}{'CPU ms/msg':>12}")
        print(
            f"{'baseline (fetch + parse)':<26}{b['seconds']:>9.2f}{b['msgs_per_s']:>10.1f}{b['cpu_ms_per_msg']:>12.3f}"
        )
        print(f"{'ours (poll + ingest)':<26}{o['seconds']:>9.2f}{o['msgs_per_s']:>10.1f}{o['cpu_ms_per_msg']:>12.3f}")
        print(
            f"{backend}: ratio ours/baseline = {figures['ratio']:.4f}"
            f" (ours {o['msgs_per_s']} msgs/s / baseline {b['msgs_per_s']} msgs/s)"
        )
        v = figures["verification"]
        print(
            f"verified: {v['messages_in_db']} messages and {v['raw_inbound_processed']} processed raw payloads"
            f" for {v['messages_in_mailbox']} in the mailbox, "
            f"{v['conversations']} conversations, {v['left_unseen']} left unseen, {v['failed']} failed"
        )
        sys.stdout.flush()
        if not figures["ok"]:
            print(f"{backend}: verification FAILED: {v}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
