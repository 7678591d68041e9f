"""A version per generation, and an index on what changed for a user since a moment.

`version` counts the changes a user can see (1 when accepted, one more for each
transition that records a domain event). The live feed's notifications carry it and the
event streams number their events with it, so a client can resume without repeats.
Existing rows start at 1. The index serves the streams' fallback read (a user's
generations changed since a moment) while the feed is not connected.

Revision ID: 0008_generation_version
Revises: 0007_purchases
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_generation_version"
down_revision: str | Sequence[str] | None = "0007_purchases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.create_index("ix_generations_user_updated", "generations", ["user_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_generations_user_updated", table_name="generations")
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("version")
