"""The ``raccordo`` command: serve, sandbox, worker, migrate, demo, createuser, import-contacts, export,
reprocess, purge-raw."""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from raccordo.platform.config import Settings, get_settings

if TYPE_CHECKING:  # imported when a command runs: `raccordo --help` stays quick
    from raccordo.platform.runtime import Runtime
    from raccordo.sandbox.server import Running

app = typer.Typer(help="Raccordo omnichannel contact center.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


def _runtime(settings: Settings) -> Runtime:
    """The runtime, with the schema brought to head first when RACCORDO_AUTO_MIGRATE allows."""
    from raccordo.bootstrap.install import install
    from raccordo.platform.runtime import Runtime
    from raccordo.platform.store import migrate as migrations

    if settings.auto_migrate:
        migrations.upgrade(settings.resolved_database_url)
    install()
    return Runtime.build(settings)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Show a domain error as one readable line and exit 2, instead of a traceback."""
    from raccordo.platform.errors import RaccordoError
    from raccordo.platform.i18n import translate

    try:
        yield
    except RaccordoError as exc:
        console.print(f"[red]{translate(exc.key, 'en', **exc.params)}[/red]")
        raise typer.Exit(2) from None


def _server_settings(host: str | None, port: int | None) -> Settings:
    """Settings with command-line overrides of the listening address, and logging configured."""
    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


@app.command()
def migrate(revision: str = typer.Argument("head", help="Target revision; 'base' empties the schema.")) -> None:
    """Upgrade (or downgrade) the database schema."""
    from raccordo.platform.store import migrate as migrations

    settings = get_settings()
    if revision == "base":
        migrations.downgrade(settings.resolved_database_url, "base")
    else:
        migrations.upgrade(settings.resolved_database_url, revision)
    console.print(f"schema at {revision}")


def _serve(settings: Settings) -> None:
    import uvicorn

    from raccordo.bootstrap.http import create_app
    from raccordo.realtime.frames import BroadcastWebSocketProtocol

    rt = _runtime(settings)
    uvicorn.run(
        create_app(rt),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        ws_per_message_deflate=settings.ws_compression,
        ws=BroadcastWebSocketProtocol,  # one compression per broadcast frame
    )


@app.command()
def serve(host: str | None = typer.Option(None), port: int | None = typer.Option(None)) -> None:
    """Serve the API (and, in the embedded default, the delivery worker) on HOST:PORT."""
    _serve(_server_settings(host, port))


@app.command()
def sandbox(
    port: int = typer.Option(8900, help="Port of the provider sandbox."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
) -> None:
    """Run the provider sandbox (the WhatsApp Cloud API and its customers, for tests and demos) on HOST:PORT."""
    from raccordo.sandbox.server import serve as serve_sandbox

    serve_sandbox(port, host)


@app.command()
def worker() -> None:
    """Run the worker (outbound sends, timers, inbound recovery) as its own process, without HTTP,
    until SIGTERM or SIGINT."""
    import asyncio
    import signal

    from raccordo.bootstrap.worker import WorkerLoop
    from raccordo.platform.bus import make_bus

    settings = _server_settings(None, None)
    rt = _runtime(settings)
    loop = WorkerLoop(rt, make_bus(settings.bus_url, settings.bus_subject))

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(signum, stop.set)
        await loop.run(stop)

    try:
        asyncio.run(main())
    finally:
        rt.close()


def _start_demo_sandbox(port: int) -> Running:
    """The provider sandbox in a thread of the demo's process (stopped with it), on PORT or, when
    PORT is taken, on a free one: the demo moves its inbox to wherever the sandbox runs."""
    from raccordo.sandbox import server as sandbox_server

    try:
        return sandbox_server.start(port)
    except RuntimeError:
        if not port:
            raise
        console.print(f"[yellow]port {port} is taken: the provider sandbox runs on a free port[/yellow]")
        return sandbox_server.start(0)


@app.command()
def demo(
    host: str | None = typer.Option(None),
    port: int | None = typer.Option(None),
    no_serve: bool = typer.Option(False, "--no-serve", help="Load the demo data and exit."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same data."),
    no_sandbox: bool = typer.Option(
        False, "--no-sandbox", help="Do not start the provider sandbox (WhatsApp replies then fail)."
    ),
    sandbox_port: int = typer.Option(8900, help="Port of the provider sandbox the demo starts (0: a free one)."),
) -> None:
    """Create the database, load a demo tenant (Italian and English) and serve it, with the provider
    sandbox standing in for the messaging providers so their inboxes are live."""
    from raccordo.demo import seed as demo_data
    from raccordo.demo.live_meta import connect_meta_sandbox
    from raccordo.demo.live_sms import connect_sms_sandbox
    from raccordo.demo.live_telegram import connect_telegram
    from raccordo.demo.sandbox_link import DEFAULT_SANDBOX_URL, connect_sandbox
    from raccordo.platform.store import migrate as migrations

    settings = _server_settings(host, port)
    migrations.upgrade(settings.resolved_database_url)
    rt = _runtime(settings)
    # Only a served demo needs the sandbox: ``--no-serve`` (the tests) stays a quick load.
    sandbox = None if no_serve or no_sandbox else _start_demo_sandbox(sandbox_port)
    try:
        logins = demo_data.load_demo(rt, seed=seed, sandbox_url=sandbox.url if sandbox else DEFAULT_SANDBOX_URL)
        link = connect_sandbox(rt, logins.tenant_slug, sandbox.url) if sandbox else None
        telegram = connect_telegram(rt, logins.tenant_slug, sandbox.url) if sandbox else None
        sms_link = connect_sms_sandbox(rt, logins.tenant_slug, sandbox.url) if sandbox else None
        meta_link = connect_meta_sandbox(rt, logins.tenant_slug, sandbox.url) if sandbox else None
    except BaseException:
        if sandbox:
            sandbox.stop()
        raise
    finally:
        rt.close()
    url = settings.resolved_public_url
    print(f"\nRaccordo demo on {url}  (API docs: {url}/docs)\n")
    print(f"Organization: {logins.tenant_slug}")
    for role, email, password in logins.users:
        print(f"  {role:<11} {email:<32} password: {password}")
    if link:
        print(f"\nWhatsApp is live through the provider sandbox on {link.sandbox_url}")
        print(f"  customer phone: {link.phone_page}?lang=it  (business number {', '.join(link.phone_numbers)})")
    if telegram and telegram.bot_id is not None:
        print(f"Telegram is live (polling the sandbox): customer phone {telegram.phone_page}?lang=it")
    if sms_link:
        print(
            f"SMS is live through the sandbox's Twilio: {sms_link.phone_page}  (number {', '.join(sms_link.numbers)})"
        )
    if meta_link and meta_link.of_kind("messenger"):
        pages = ", ".join(meta_link.of_kind("messenger"))
        print(f"Messenger is live too: {meta_link.customer_page}?lang=it  (page {pages})")
    if meta_link and meta_link.of_kind("instagram"):
        accounts = ", ".join(meta_link.of_kind("instagram"))
        print(f"Instagram is live too: {meta_link.customer_page}?lang=it  (account {accounts})")
    print()
    sys.stdout.flush()
    if not no_serve:
        try:
            _serve(settings)
        finally:
            if sandbox:
                sandbox.stop()


@app.command()
def createuser(
    email: str = typer.Option(..., prompt=True),
    name: str = typer.Option(..., prompt=True),
    role: str = typer.Option("owner", help="owner, admin, supervisor or agent"),
    tenant: str = typer.Option(..., help="Organization slug; created if it does not exist."),
    tenant_name: str | None = typer.Option(None, help="Name for a new organization."),
    language: str = typer.Option("it"),
    password: str | None = typer.Option(None, help="Read from RACCORDO_PASSWORD or asked when omitted."),
) -> None:
    """Create a user (and the organization when new)."""
    import os

    from sqlalchemy import select

    from raccordo.accounts.domain.actor import system_actor
    from raccordo.accounts.models import Tenant
    from raccordo.accounts.services import accounts
    from raccordo.platform.store.db import unit_of_work

    settings = get_settings()
    password = password or os.environ.get("RACCORDO_PASSWORD") or getpass.getpass("Password: ")
    rt = _runtime(settings)
    with _clear_errors(), unit_of_work(rt.sessions) as session:
        row = session.scalars(select(Tenant).where(Tenant.slug == tenant)).one_or_none()
        if row is None:
            row = accounts.create_tenant(
                session,
                tenant,
                tenant_name or tenant,
                region=settings.default_region,
                language=settings.default_language,
            )
        user = accounts.create_user(
            session, system_actor(row.id), email=email, name=name, role=role, password=password, language=language
        )
        console.print(f"created {user.role} {user.email} (id {user.id}) in {row.slug}")


@app.command("import-contacts")
def import_contacts(
    csv_path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    tenant: str = typer.Option(..., help="Organization slug."),
) -> None:
    """Import contacts from CSV (see docs/import-export.md for the columns). Re-importing updates, never duplicates."""
    from raccordo.record.services.import_contacts import import_csv

    rt = _runtime(get_settings())
    with _clear_errors():
        report = import_csv(rt, tenant, csv_path)
    console.print(f"created {report.created}, updated {report.updated}, failed {len(report.errors)}")
    for line, message in report.errors[:50]:
        console.print(f"  line {line}: {message}")
    if report.errors:
        raise typer.Exit(1)


@app.command()
def export(
    tenant: str = typer.Option(..., help="Organization slug."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write; standard output when omitted."),
) -> None:
    """Export a tenant's data as JSON lines (one record per line, with its type)."""
    from raccordo.record.services.export import export_tenant
    from raccordo.record.services.import_contacts import tenant_by_slug

    rt = _runtime(get_settings())
    with _clear_errors():
        with rt.sessions() as session:
            tenant_by_slug(session, tenant)  # fail before creating the output file
        if output:
            with output.open("w", encoding="utf-8") as handle:
                count = export_tenant(rt, tenant, handle)
        else:
            count = export_tenant(rt, tenant, sys.stdout)
    console.print(f"exported {count} records")


@app.command()
def reprocess() -> None:
    """Process inbound payloads left pending (e.g. after a crash) and deliver due outbound messages."""
    from datetime import timedelta

    from raccordo.channels.services.delivery import run_once
    from raccordo.channels.services.inbound import reprocess_pending

    rt = _runtime(get_settings())
    console.print(f"inbound processed: {reprocess_pending(rt, older_than=timedelta(0), limit=10_000)}")
    sent = 0
    while batch := run_once(rt):
        sent += batch
    console.print(f"outbound attempted: {sent}")


@app.command("purge-raw")
def purge_raw(
    tenant: str | None = typer.Option(None, help="Organization slug: with --days, set its retention."),
    days: int | None = typer.Option(None, help="With --tenant: the organization's retention in days (0 keeps all)."),
    default: bool = typer.Option(False, "--default", help="With --tenant: use RACCORDO_RAW_RETENTION_DAYS again."),
) -> None:
    """Delete processed raw inbound payloads past the retention (RACCORDO_RAW_RETENTION_DAYS, or the organization's)."""
    from raccordo.channels.services import raw_retention
    from raccordo.platform.store.db import unit_of_work
    from raccordo.record.services.import_contacts import tenant_by_slug

    settings = get_settings()
    rt = _runtime(settings)
    if tenant is not None:
        if days is None and not default:
            console.print("[red]--tenant needs --days N or --default[/red]")
            raise typer.Exit(2)
        with _clear_errors(), unit_of_work(rt.sessions) as session:
            row = tenant_by_slug(session, tenant)
            raw_retention.set_raw_retention(session, row.id, None if default else days)
        kept = "per RACCORDO_RAW_RETENTION_DAYS" if default else f"{days} days" if days else "forever"
        console.print(f"{tenant}: raw payloads kept {kept}")
        return
    counts = raw_retention.purge_raw(rt)
    console.print(f"deleted {counts['raw_inbound']} raw payloads and {counts['inbound_rejections']} rejection records")


if __name__ == "__main__":
    app()
