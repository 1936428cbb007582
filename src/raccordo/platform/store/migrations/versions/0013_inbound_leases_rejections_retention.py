"""inbound leases, rejected requests, raw payload retention

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 12:00:00.000000

``raw_inbound.claimed_until``: the lease of the process working on a raw payload, so the
reprocessing sweep never takes one in flight. ``inbound_rejections``: a compact row per
webhook request refused for its signature (no body), counted for the rate limit. An index
for the retention purge of processed payloads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import raccordo.platform.store.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_inbound", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_until", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_raw_inbound_retention", ["status", "processed_at"], unique=False)
    op.create_table(
        "inbound_rejections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("inbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inboxes.id"], name=op.f("fk_inbound_rejections_inbox_id_inboxes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_inbound_rejections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_rejections")),
    )
    with op.batch_alter_table("inbound_rejections", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_rejections_inbox", ["inbox_id", "received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbound_rejections_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_rejections_tenant_id"))
        batch_op.drop_index("ix_inbound_rejections_inbox")
    op.drop_table("inbound_rejections")
    with op.batch_alter_table("raw_inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_inbound_retention")
        batch_op.drop_column("claimed_until")
