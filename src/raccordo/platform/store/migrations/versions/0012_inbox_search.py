"""inbox search, team and queue views

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 12:00:00.000000

``search_entries`` (folded words of messages, subjects, contacts) with the backend's full-text
index: PostgreSQL a GIN index on the stored ``tsv = to_tsvector('simple', body)``; SQLite an FTS5 table kept in
step by triggers. Existing rows are indexed here. Plus the indexes the inbox views need at
10,000 conversations (see ``bench/desktop.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_FTS_TRIGGERS = (
    "CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN "
    "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
)


def _backfill() -> None:
    from raccordo.desk.domain.search import index_body
    from raccordo.desk.search_index import contact_body

    bind = op.get_bind()
    entries = sa.table(
        "search_entries",
        sa.column("tenant_id"),
        sa.column("kind"),
        sa.column("conversation_id"),
        sa.column("contact_id"),
        sa.column("message_id"),
        sa.column("body"),
    )
    messages = sa.table(
        "messages", sa.column("id"), sa.column("tenant_id"), sa.column("conversation_id"), sa.column("text")
    )
    conversations = sa.table("conversations", sa.column("id"), sa.column("tenant_id"), sa.column("subject"))
    contacts = sa.table(
        "contacts", sa.column("id"), sa.column("tenant_id"), sa.column("name"), sa.column("merged_into_id")
    )
    identities = sa.table(
        "contact_identities", sa.column("id"), sa.column("contact_id"), sa.column("kind"), sa.column("value")
    )

    def write(rows: list[dict]) -> None:
        if rows:
            bind.execute(entries.insert(), rows)

    last = 0
    while True:
        batch = bind.execute(sa.select(messages).where(messages.c.id > last).order_by(messages.c.id).limit(2000)).all()
        if not batch:
            break
        last = batch[-1].id
        write(
            [
                {
                    "tenant_id": m.tenant_id,
                    "kind": "message",
                    "conversation_id": m.conversation_id,
                    "contact_id": None,
                    "message_id": m.id,
                    "body": body,
                }
                for m in batch
                if (body := index_body([m.text]))
            ]
        )
    write(
        [
            {
                "tenant_id": c.tenant_id,
                "kind": "subject",
                "conversation_id": c.id,
                "contact_id": None,
                "message_id": None,
                "body": body,
            }
            for c in bind.execute(sa.select(conversations).where(conversations.c.subject.is_not(None)))
            if (body := index_body([c.subject]))
        ]
    )
    found: dict[int, list[tuple[str, str]]] = {}
    for row in bind.execute(sa.select(identities).order_by(identities.c.id)):
        found.setdefault(row.contact_id, []).append((row.kind, row.value))
    write(
        [
            {
                "tenant_id": c.tenant_id,
                "kind": "contact",
                "conversation_id": None,
                "contact_id": c.id,
                "message_id": None,
                "body": body,
            }
            for c in bind.execute(sa.select(contacts).where(contacts.c.merged_into_id.is_(None)))
            if (body := contact_body(c.name, found.get(c.id, [])))
        ]
    )


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_search_entries_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_search_entries_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_search_entries_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_search_entries_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_entries")),
        sa.UniqueConstraint("message_id", name=op.f("uq_search_entries_message_id")),
    )
    with op.batch_alter_table("search_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_search_entries_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_search_entries_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_search_entries_conversation_kind", ["conversation_id", "kind"], unique=False)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_tenant_assignee_activity",
            ["tenant_id", "assignee_id", "last_activity_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversations_tenant_team_activity", ["tenant_id", "team_id", "last_activity_at", "id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        # A stored tsvector, not an expression index: a plan that does not use the GIN index
        # (a tenant's few rows, rechecks) then reads the vector instead of parsing the body again.
        op.execute(
            "ALTER TABLE search_entries ADD COLUMN tsv tsvector"
            " GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, body)) STORED"
        )
        op.execute("CREATE INDEX ix_search_entries_fts ON search_entries USING gin (tsv)")
        # Contacts are a small part of the entries: their own index keeps contact search from
        # reading every message entry of a common word.
        op.execute(
            "CREATE INDEX ix_search_entries_contact_fts ON search_entries USING gin (tsv) WHERE kind = 'contact'"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE search_fts"
            " USING fts5(body, content='search_entries', content_rowid='id', tokenize='unicode61')"
        )
        for statement in _FTS_TRIGGERS:
            op.execute(statement)
    _backfill()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_search_entries_contact_fts")
        op.execute("DROP INDEX ix_search_entries_fts")
    else:
        for name in ("search_entries_ai", "search_entries_ad", "search_entries_au"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE search_fts")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_tenant_team_activity")
        batch_op.drop_index("ix_conversations_tenant_assignee_activity")
    with op.batch_alter_table("search_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_search_entries_conversation_kind")
        batch_op.drop_index(batch_op.f("ix_search_entries_contact_id"))
        batch_op.drop_index(batch_op.f("ix_search_entries_tenant_id"))
    op.drop_table("search_entries")
