"""Output keys, uploads, and stored objects waiting to be deleted.

A generation now stores the output store's keys of its copies (`output_keys`), and the
URL is built when answering from wherever the objects are served now. Rows written
before held absolute URLs of .base's own `/outputs/{key}` in `output_urls`; they are
converted: the key is taken from the URL's path, and `output_urls` goes back to
Replicate's originals (`source_urls`), as for new rows. Those old URLs keep working:
`/outputs/{key}` still serves the same objects. A downgrade writes the copies' paths
(`/outputs/{key}`, relative: the old code kept absolute ones, whose host is unknown here)
back into `output_urls`.

Revision ID: 0006_output_keys
Revises: 0005_parked_triggers
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_output_keys"
down_revision: str | Sequence[str] | None = "0005_parked_triggers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OWN_COPY = re.compile(r"/outputs/([A-Za-z0-9_-]{1,64}/\d{1,3}-[0-9a-f]{32}\.[a-z]{3,4})$")
NOT_DELETED = "deleted_at IS NULL"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("output_keys", sa.JSON, nullable=True))
        batch.add_column(sa.Column("input_upload_id", sa.String, nullable=True))
    op.create_index(
        "ix_generations_input_upload_id", "generations", ["input_upload_id"],
        postgresql_where=sa.text(NOT_DELETED), sqlite_where=sa.text(NOT_DELETED),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("user_id", sa.String, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("key", sa.String, nullable=False, unique=True),
        sa.Column("content_type", sa.String, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "stored_deletions",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    )
    _convert_urls_to_keys()


def _convert_urls_to_keys() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, output_urls, source_urls FROM generations "
        "WHERE outputs_kept_at IS NOT NULL AND output_urls IS NOT NULL AND source_urls IS NOT NULL"
    )).fetchall()
    update = sa.text(
        "UPDATE generations SET output_keys = :keys, output_urls = :sources WHERE id = :id"
    ).bindparams(sa.bindparam("keys", type_=sa.JSON), sa.bindparam("sources", type_=sa.JSON))
    for row in rows:
        urls, sources = _json(row.output_urls), _json(row.source_urls)
        found = [_OWN_COPY.search(str(url).split("?", 1)[0]) for url in urls]
        if not urls or not all(found) or len(urls) != len(sources):
            continue  # not copies of ours (or already converted): left as they are
        connection.execute(update, {"keys": [m.group(1) for m in found if m], "sources": sources, "id": row.id})


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, output_keys FROM generations WHERE output_keys IS NOT NULL"
    )).fetchall()
    update = sa.text("UPDATE generations SET output_urls = :urls WHERE id = :id").bindparams(
        sa.bindparam("urls", type_=sa.JSON)
    )
    for row in rows:
        connection.execute(update, {"urls": [f"/outputs/{key}" for key in _json(row.output_keys)], "id": row.id})
    op.drop_table("stored_deletions")
    op.drop_table("uploads")
    op.drop_index("ix_generations_input_upload_id", table_name="generations")
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("input_upload_id")
        batch.drop_column("output_keys")
