"""folded name keys: names unique whatever their case, on every database

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 12:00:00.000000

Skills, answer templates (name and shortcut), wrap-up codes, scripts and side-panel apps get a
``*_key`` column (the NFKC-normalized, casefolded name: ``models.fold_name``) with a unique index
per tenant. The services compare keys instead of ``lower()``, which SQLite applies to ASCII only
(two skills "Ãrabo" passed the check and broke the plain unique constraint: a 500). Existing
rows are folded here; rows whose keys collide (possible only for non-ASCII names created before)
keep a key made unique with their id, so the upgrade never fails on old data.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from raccordo.platform.store.models import fold_name

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# table -> the columns folded into <column>_key
FOLDED = {
    "skills": ("name",),
    "answer_templates": ("name", "shortcut"),
    "wrap_up_codes": ("code",),
    "scripts": ("name",),
    "side_panel_apps": ("name",),
}


def upgrade() -> None:
    connection = op.get_bind()
    for table, columns in FOLDED.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(sa.Column(f"{column}_key", sa.Text(), nullable=True))
        rows = sa.table(
            table,
            sa.column("id"),
            sa.column("tenant_id"),
            *(sa.column(c) for c in columns),
            *(sa.column(f"{c}_key") for c in columns),
        )
        for column in columns:
            seen: set[tuple[int, str]] = set()
            for row in connection.execute(sa.select(rows.c.id, rows.c.tenant_id, rows.c[column]).order_by(rows.c.id)):
                key = fold_name(row[2])
                if key is None:
                    continue
                if (row[1], key) in seen:
                    key = f"{key}#{row[0]}"
                seen.add((row[1], key))
                connection.execute(sa.update(rows).where(rows.c.id == row[0]).values({f"{column}_key": key}))
            op.create_index(f"uq_{table}_tenant_{column}_key", table, ["tenant_id", f"{column}_key"], unique=True)


def downgrade() -> None:
    for table, columns in FOLDED.items():
        for column in columns:
            op.drop_index(f"uq_{table}_tenant_{column}_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(f"{column}_key")
