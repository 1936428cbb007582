"""a version per tenant for the configuration cache; messages whose search entry is written after commit

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 01:00:00.000000

``platform.config_cache`` keeps routing rules, SLA policies, inboxes and tenants in memory per
process; a write of one of them sets a new random version for its tenant here, in the same
transaction, and other processes read it again within ``RACCORDO_CONFIG_CACHE_SECONDS``.

``messages.search_pending``: an ingested message's search entry is written after its commit
(``desk.search_index``); true until then, so the worker's sweep finds what a crash left behind
(a partial index holds only those rows). Existing messages are indexed already (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_config_versions",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_config_versions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_config_versions")),
    )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_pending", sa.Boolean(), nullable=True))
        batch_op.create_index(
            "ix_messages_search_pending",
            ["id"],
            unique=False,
            postgresql_where=sa.text("search_pending"),
            sqlite_where=sa.text("search_pending"),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_search_pending")
        batch_op.drop_column("search_pending")
    op.drop_table("tenant_config_versions")
