"""raw inbound keeps the whole request: method, URL and query beside headers and body

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:00:00.000000

Channels verify requests from any part of them (Twilio signs the URL and the form parameters,
Meta's handshake is a GET with a query), so a stored request must be verifiable again. Rows
stored before keep no method or URL (read back as POSTs) and an empty query.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_inbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("method", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("url", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "query",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("raw_inbound", schema=None) as batch_op:
        batch_op.drop_column("query")
        batch_op.drop_column("url")
        batch_op.drop_column("method")
