"""A narrow index for counting a user's visible generations (the history page's total).

The history page counts the caller's visible generations on every request. The index
that orders the page (user, created_at, id) serves the count too, but it is wide; one on
the user alone is a fraction of its size (PostgreSQL keeps one key for many rows), so the
count reads far fewer pages as the table grows.

Revision ID: 0004_history_count
Revises: 0003_service_secrets
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_history_count"
down_revision: str | Sequence[str] | None = "0003_service_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_DELETED = "deleted_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_generations_user_visible",
        "generations",
        ["user_id"],
        postgresql_where=sa.text(NOT_DELETED),
        sqlite_where=sa.text(NOT_DELETED),
    )


def downgrade() -> None:
    op.drop_index("ix_generations_user_visible", table_name="generations")
