"""email channel: inline attachment content ids, mailbox poll leases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import raccordo.platform.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_id", sa.String(length=300), nullable=True))

    op.create_table(
        "mailbox_leases",
        sa.Column("inbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("leased_until", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_poll_at", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("fetched", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_mailbox_leases_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mailbox_leases_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("inbox_id", name=op.f("pk_mailbox_leases")),
    )
    with op.batch_alter_table("mailbox_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailbox_leases_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mailbox_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailbox_leases_tenant_id"))

    op.drop_table("mailbox_leases")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_column("content_id")
