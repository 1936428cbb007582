"""wrap-up codes, queues that require one, the code on conversations

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import raccordo.platform.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wrap_up_codes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", raccordo.platform.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_wrap_up_codes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wrap_up_codes")),
        sa.UniqueConstraint("tenant_id", "code", name="uq_wrap_up_codes_tenant_code"),
    )
    with op.batch_alter_table("wrap_up_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wrap_up_codes_tenant_id"), ["tenant_id"], unique=False)
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requires_wrap_up", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wrap_up_code", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("wrap_up_code")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("requires_wrap_up")
    with op.batch_alter_table("wrap_up_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wrap_up_codes_tenant_id"))
    op.drop_table("wrap_up_codes")
