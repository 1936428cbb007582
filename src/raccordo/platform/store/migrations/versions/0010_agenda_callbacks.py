"""agenda: scheduled callbacks and follow-ups

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import raccordo.platform.store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    utc = raccordo.platform.store.models.UTCDateTime(timezone=True)
    op.create_table(
        "agenda_items",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", big_id, nullable=False),
        sa.Column("conversation_id", big_id, nullable=False),
        sa.Column("contact_id", big_id, nullable=False),
        sa.Column("owner_id", big_id, nullable=True),
        sa.Column("created_by_id", big_id, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("inbox_id", big_id, nullable=True),
        sa.Column("queue_id", big_id, nullable=True),
        sa.Column("due_at", utc, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("routed_user_id", big_id, nullable=True),
        sa.Column("routed_queue_id", big_id, nullable=True),
        sa.Column("fired_at", utc, nullable=True),
        sa.Column("completed_at", utc, nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agenda_items_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_agenda_items_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_agenda_items_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_agenda_items_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_agenda_items_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_agenda_items_inbox_id_inboxes"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_agenda_items_queue_id_queues"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["routed_user_id"], ["users.id"], name=op.f("fk_agenda_items_routed_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["routed_queue_id"], ["queues.id"], name=op.f("fk_agenda_items_routed_queue_id_queues"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_items")),
    )
    with op.batch_alter_table("agenda_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agenda_items_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agenda_items_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agenda_items_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_agenda_items_tenant_status_due", ["tenant_id", "status", "due_at"], unique=False)
        batch_op.create_index("ix_agenda_items_tenant_owner_due", ["tenant_id", "owner_id", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agenda_items", schema=None) as batch_op:
        batch_op.drop_index("ix_agenda_items_tenant_owner_due")
        batch_op.drop_index("ix_agenda_items_tenant_status_due")
        batch_op.drop_index(batch_op.f("ix_agenda_items_contact_id"))
        batch_op.drop_index(batch_op.f("ix_agenda_items_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_agenda_items_tenant_id"))
    op.drop_table("agenda_items")
