"""held delivery reports: provider statuses that arrive before the send is recorded

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:31:26.802115

A WhatsApp "sent" or "delivered" webhook can reach us before the outbox has stored the wamid
Meta answered: such a report is held here and applied once the send is recorded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import raccordo.platform.store.models

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_delivery_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("inbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_message_id", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reason_key", sa.String(length=200), nullable=True),
        sa.Column(
            "params", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("report_id", sa.String(length=500), nullable=False),
        sa.Column("created_at", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_held_delivery_reports_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_held_delivery_reports_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_delivery_reports")),
    )
    with op.batch_alter_table("held_delivery_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_held_delivery_reports_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_held_delivery_reports_lookup", ["inbox_id", "provider_message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_held_delivery_reports_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("held_delivery_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_held_delivery_reports_tenant_id"))
        batch_op.drop_index("ix_held_delivery_reports_lookup")
        batch_op.drop_index(batch_op.f("ix_held_delivery_reports_created_at"))

    op.drop_table("held_delivery_reports")
