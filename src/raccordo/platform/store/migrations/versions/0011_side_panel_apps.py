"""side-panel apps configured by admins

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import raccordo.platform.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "side_panel_apps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "share", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "inbox_ids", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "queue_ids", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_side_panel_apps_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_side_panel_apps")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_side_panel_apps_tenant_name"),
    )
    with op.batch_alter_table("side_panel_apps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_side_panel_apps_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("side_panel_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_side_panel_apps_tenant_id"))
    op.drop_table("side_panel_apps")
