"""CSV contact import and JSON-lines export: as services on both databases, and as real commands (demo,
import, export)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.models import Team, TeamMember
from raccordo.accounts.services import accounts
from raccordo.channels.base import InboundAttachment, InboundEvent, InboundIdentity
from raccordo.channels.services.inboxes import create_inbox
from raccordo.demo import seed as demo
from raccordo.platform.errors import NotFound
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import AuditEntry, Contact, ContactIdentity
from raccordo.record.services.export import export_tenant
from raccordo.record.services.import_contacts import import_csv
from raccordo.record.services.ingest import ingest_event
from raccordo.record.services.reply import add_note, send_reply
from tests.support.orgs import Org
from tests.support.record_counts import count_rows

RACCORDO = str(Path(sys.executable).parent / "raccordo")


# --- import ------------------------------------------------------------------------------------------

CSV_ROWS = [
    "name;language;email;phone;whatsapp;telegram;external_id;attr.city;attr.vip",
    "Mario Rossi;it;mario.rossi@example.com;+39 347 123 4567;;;CRM-1;Milano;true",
    "Anna Bianchi;it;anna.bianchi@example.com;;+39 333 765 4321;;;Roma;",
    "John Smith;en;john@example.org;;;123456789;;London;false",
    "Mario Rossi;it;MARIO.ROSSI@Example.com;;;;;Milano;true",
    "Luca Verdi;it;luca.verdi@example.com;12345;;;;;",
    "Giulia Neri;it;giulia.neri@@example.com;;;;;;",
]


def _write(tmp_path: Path, lines: list[str], *, bom: bool = True, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _contacts(rt: Runtime, tenant_id: int) -> list[Contact]:
    with unit_of_work(rt.sessions) as session:
        return list(session.scalars(select(Contact).where(Contact.tenant_id == tenant_id).order_by(Contact.id)))


def _identities(rt: Runtime, contact: Contact) -> set[tuple[str, str]]:
    with unit_of_work(rt.sessions) as session:
        return {
            (kind, value)
            for kind, value in session.execute(
                select(ContactIdentity.kind, ContactIdentity.value).where(ContactIdentity.contact_id == contact.id)
            )
        }


def test_import_reports_precisely_and_reimport_updates(rt: Runtime, org: Org, tmp_path: Path) -> None:
    path = _write(tmp_path, CSV_ROWS)
    report = import_csv(rt, org.slug, path)
    assert (report.created, report.updated) == (3, 1)  # line 5 is Mario again: an update, not a duplicate
    assert [line for line, _ in report.errors] == [6, 7]
    assert report.errors[0][1].startswith("Column phone:") and "12345" in report.errors[0][1]
    assert report.errors[1][1].startswith("Column email:") and "giulia.neri@@example.com" in report.errors[1][1]

    contacts = _contacts(rt, org.tenant_id)
    assert [c.name for c in contacts] == ["Mario Rossi", "Anna Bianchi", "John Smith"]
    mario = contacts[0]
    assert mario.custom_attributes == {"city": "Milano", "vip": True}
    assert _identities(rt, mario) == {
        ("email", "mario.rossi@example.com"),
        ("phone", "+393471234567"),
        ("external", "CRM-1"),
    }
    assert _identities(rt, contacts[1]) == {("email", "anna.bianchi@example.com"), ("whatsapp", "+393337654321")}
    assert contacts[2].language == "en" and contacts[2].custom_attributes == {"city": "London", "vip": False}

    again = import_csv(rt, org.slug, path)
    assert (again.created, again.updated, [line for line, _ in again.errors]) == (0, 4, [6, 7])
    assert len(_contacts(rt, org.tenant_id)) == 3

    changed = _write(tmp_path, [CSV_ROWS[0], "Mario Rossi;it;;+393471234567;;;;Torino;true"], name="changed.csv")
    assert (import_csv(rt, org.slug, changed).updated, len(_contacts(rt, org.tenant_id))) == (1, 3)
    assert _contacts(rt, org.tenant_id)[0].custom_attributes["city"] == "Torino"

    with unit_of_work(rt.sessions) as session:
        imports = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.tenant_id == org.tenant_id, AuditEntry.action == "contact.import")
                .order_by(AuditEntry.id)
            )
        )
        assert [(a.user_id, a.data["created"], a.data["updated"], a.data["failed"]) for a in imports] == [
            (None, 3, 1, 2),
            (None, 0, 4, 2),
            (None, 0, 1, 0),
        ]


def test_import_comma_file_without_bom_and_italian_messages(rt: Runtime, org: Org, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            "Name,Email,attr.customer_tier",
            'Sara "Sally" Conti,sara@example.com,gold',
            "Bad,not-an-email,",
            "Extra,x@example.com,gold,surplus",
        ],
        bom=False,
    )
    report = import_csv(rt, org.slug, path, language="it")
    assert (report.created, report.updated) == (1, 0)
    assert [line for line, _ in report.errors] == [3, 4]
    assert report.errors[0][1].startswith("Colonna email:")
    assert "4 valori" in report.errors[1][1]
    assert _contacts(rt, org.tenant_id)[0].custom_attributes == {"customer_tier": "gold"}


def test_import_bad_header_imports_nothing(rt: Runtime, org: Org, tmp_path: Path) -> None:
    unknown = import_csv(rt, org.slug, _write(tmp_path, ["name,emial", "Mario,mario@example.com"]))
    assert (unknown.created, unknown.errors) == (0, [(1, unknown.errors[0][1])])
    assert 'Unknown column "emial"' in unknown.errors[0][1]
    no_identity = import_csv(rt, org.slug, _write(tmp_path, ["name,language", "Mario,it"], name="b.csv"))
    assert "no identity column" in no_identity.errors[0][1]
    empty = import_csv(rt, org.slug, _write(tmp_path, [""], name="c.csv"))
    assert empty.errors[0][0] == 1 and "empty" in empty.errors[0][1]
    assert _contacts(rt, org.tenant_id) == []


def test_import_unknown_tenant_is_a_clear_error(rt: Runtime, tmp_path: Path) -> None:
    with pytest.raises(NotFound) as error:
        import_csv(rt, "no-such-org", _write(tmp_path, CSV_ROWS))
    assert error.value.key == "tenant.unknown" and error.value.params == {"slug": "no-such-org"}


# --- export ------------------------------------------------------------------------------------------


def _populate(rt: Runtime, org: Org, tmp_path: Path, prefix: str) -> str:
    """Contacts (two likely duplicates), a conversation with a reply, a note and an attachment;
    returns the API inbox secret."""
    import_csv(
        rt,
        org.slug,
        _write(
            tmp_path,
            ["name,email", f"Paola Greco,{prefix}.a@example.com", f"Paola Greco,{prefix}.b@example.com"],
            name=f"{prefix}.csv",
        ),
    )
    with unit_of_work(rt.sessions) as session:
        owner = Actor(org.tenant_id, org.users["owner"], Role.OWNER)
        inbox, secrets_ = create_inbox(
            session,
            rt.secretbox,
            owner,
            name="App",
            channel="api",
            settings={"callback_url": "https://example.com/hook"},
            secrets_={},
            business_hours=None,
        )
        accounts.create_team(session, owner, "Squadra", "", [org.users["agent"]])
        event = InboundEvent(
            provider_message_id=f"{prefix}-1",
            identities=[InboundIdentity("email", f"{prefix}.a@example.com")],
            text="Buongiorno",
            attachments=[InboundAttachment("foto.png", "image/png", b"not really a png")],
        )
        result = ingest_event(session, rt.files, inbox, event, max_attachment_bytes=1000)
        send_reply(session, rt.files, owner, result.conversation.id, text="Eccomi", max_attachment_bytes=1000)
        add_note(session, rt.files, owner, result.conversation.id, text="nota interna", max_attachment_bytes=1000)
        return secrets_["hmac_secret"]


def test_export_contains_only_the_tenant_and_no_secrets(rt: Runtime, org: Org, other_org: Org, tmp_path: Path) -> None:
    secret = _populate(rt, org, tmp_path, f"mine-{org.tenant_id}")
    other_secret = _populate(rt, other_org, tmp_path, f"theirs-{other_org.tenant_id}")
    buffer = io.StringIO()
    count = export_tenant(rt, org.slug, buffer)
    text = buffer.getvalue()
    records = [json.loads(line) for line in text.splitlines()]
    assert count == len(records) > 0
    assert {r["type"] for r in records} == {
        "tenant",
        "user",
        "team",
        "inbox",
        "contact",
        "identity",
        "conversation",
        "message",
        "attachment",
        "timeline",
        "audit",
        "merge_suggestion",
    }
    assert all(r.get("tenant_id", r["id"]) == org.tenant_id for r in records)
    assert records[0] == {**records[0], "type": "tenant", "slug": org.slug}
    assert f"theirs-{other_org.tenant_id}" not in text and other_org.slug not in text
    for forbidden in (secret, other_secret, "$argon2", "password_hash", "secrets_encrypted", *org.tokens.values()):
        assert forbidden not in text
    team = next(r for r in records if r["type"] == "team")
    assert team["member_ids"] == [org.users["agent"]]
    attachment = next(r for r in records if r["type"] == "attachment")
    assert attachment["filename"] == "foto.png" and attachment["size"] == len(b"not really a png")
    assert {r["direction"] for r in records if r["type"] == "message"} == {"inbound", "outbound", "note"}
    assert datetime.fromisoformat(next(r for r in records if r["type"] == "contact")["created_at"]).tzinfo is not None
    with unit_of_work(rt.sessions) as session:
        assert count_rows(session, AuditEntry, org.tenant_id, AuditEntry.action == "tenant.export") == 1


def test_export_unknown_tenant_is_a_clear_error(rt: Runtime) -> None:
    with pytest.raises(NotFound) as error:
        export_tenant(rt, "no-such-org", io.StringIO())
    assert error.value.key == "tenant.unknown"


def test_export_lists_team_members_even_when_empty(rt: Runtime, org: Org) -> None:
    with unit_of_work(rt.sessions) as session:
        accounts.create_team(session, system_actor(org.tenant_id), "Vuota", "")
        assert (
            session.scalar(
                select(func.count()).select_from(TeamMember).join(Team).where(Team.tenant_id == org.tenant_id)
            )
            == 0
        )
    records = [json.loads(line) for line in _export(rt, org.slug).splitlines()]
    assert next(r for r in records if r["type"] == "team")["member_ids"] == []


def _export(rt: Runtime, slug: str) -> str:
    buffer = io.StringIO()
    export_tenant(rt, slug, buffer)
    return buffer.getvalue()


# --- the real commands (SQLite: the demo's default) --------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACCORDO_") or k.startswith("RACCORDO_TEST_")}
    env["RACCORDO_DATA_DIR"] = str(tmp_path_factory.mktemp("cli-demo") / "data")
    return env


def _raccordo(env: dict[str, str], *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RACCORDO, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cli_demo(cli_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _raccordo(cli_env, "demo", "--no-serve")


def test_cli_demo_prints_url_and_logins(cli_env: dict[str, str], cli_demo: subprocess.CompletedProcess[str]) -> None:
    assert cli_demo.returncode == 0, cli_demo.stderr
    assert "Raccordo demo on http://127.0.0.1:8000  (API docs: http://127.0.0.1:8000/docs)" in cli_demo.stdout
    assert "Organization: demo" in cli_demo.stdout
    login_lines = [line.split() for line in cli_demo.stdout.splitlines() if "password:" in line]
    assert [(role, email, password) for role, email, _, password in login_lines] == [
        (role, email, password) for role, email, password in demo.demo_logins("demo").users
    ]
    assert (Path(cli_env["RACCORDO_DATA_DIR"]) / "raccordo.db").exists()
    again = _raccordo(cli_env, "demo", "--no-serve")
    assert again.returncode == 0 and again.stdout == cli_demo.stdout


def test_cli_import_and_export(
    cli_env: dict[str, str], cli_demo: subprocess.CompletedProcess[str], tmp_path: Path
) -> None:
    assert cli_demo.returncode == 0, cli_demo.stderr
    good = _write(
        tmp_path,
        [
            "name;email;phone",
            "Nuova Cliente;nuova.cliente@example.com;+39 340 000 1111",
            "New Customer;new.customer@example.com;",
        ],
        name="good.csv",
    )
    imported = _raccordo(cli_env, "import-contacts", str(good), "--tenant", "demo")
    assert imported.returncode == 0, imported.stderr
    assert "created 2, updated 0, failed 0" in imported.stderr
    bad = _write(tmp_path, ["name,email", "Ok,ok.cliente@example.com", "Bad,bad@"], name="bad.csv")
    rejected = _raccordo(cli_env, "import-contacts", str(bad), "--tenant", "demo")
    assert (
        rejected.returncode == 1
        and "created 1, updated 0, failed 1" in rejected.stderr
        and "line 3:" in rejected.stderr
    )

    output = tmp_path / "demo.jsonl"
    exported = _raccordo(cli_env, "export", "--tenant", "demo", "-o", str(output))
    assert exported.returncode == 0, exported.stderr
    lines = output.read_text(encoding="utf-8").splitlines()
    assert f"exported {len(lines)} records" in exported.stderr
    records = [json.loads(line) for line in lines]
    assert sum(r["type"] == "contact" for r in records) == 203
    assert any(r["type"] == "identity" and r["value"] == "nuova.cliente@example.com" for r in records)
    to_stdout = _raccordo(cli_env, "export", "--tenant", "demo")
    assert (
        to_stdout.returncode == 0 and len(to_stdout.stdout.splitlines()) == len(lines) + 1
    )  # + this export's own audit entry
