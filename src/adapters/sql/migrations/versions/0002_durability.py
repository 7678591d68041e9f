"""Durability: stored outputs and the reconciler's lease on generations.

Revision ID: 0002_durability
Revises: 0001_initial
Create Date: 2025-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_durability"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
OUTPUTS_TO_KEEP = "status = 'completed' AND outputs_kept_at IS NULL AND deleted_at IS NULL"


def upgrade() -> None:
    # batch mode: SQLite cannot drop columns in place (the downgrade), so Alembic copies.
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("source_urls", sa.JSON, nullable=True))
        batch.add_column(sa.Column("outputs_kept_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("next_check_at", Timestamp, nullable=True))
    # Generations completed before this revision keep Replicate's URLs as their source;
    # they count as kept (their files are most likely gone from Replicate already).
    op.execute(
        "UPDATE generations SET source_urls = output_urls, outputs_kept_at = completed_at "
        "WHERE status = 'completed'"
    )
    op.create_index(
        "ix_generations_outputs_to_keep",
        "generations",
        ["completed_at"],
        postgresql_where=sa.text(OUTPUTS_TO_KEEP),
        sqlite_where=sa.text(OUTPUTS_TO_KEEP),
    )


def downgrade() -> None:
    op.drop_index("ix_generations_outputs_to_keep", table_name="generations")
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("next_check_at")
        batch.drop_column("outputs_kept_at")
        batch.drop_column("source_urls")
