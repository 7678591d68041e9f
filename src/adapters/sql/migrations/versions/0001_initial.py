"""The initial schema: users, credits, generations, tokens, webhook bookkeeping.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types: a migration must not change when schema.py does.
Timestamp = sa.DateTime(timezone=True)
BigSerial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOT_DELETED = "deleted_at IS NULL"
IN_FLIGHT = "status IN ('pending', 'processing')"


class _Where(TypedDict):
    postgresql_where: sa.TextClause
    sqlite_where: sa.TextClause


def _where(sql: str) -> _Where:
    return {"postgresql_where": sa.text(sql), "sqlite_where": sa.text(sql)}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("telegram_id", sa.BigInteger, nullable=True),
        sa.Column("telegram_username", sa.String, nullable=True),
        sa.Column("telegram_first_name", sa.String, nullable=True),
        sa.Column("email", sa.String, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("telegram_id", name="uq_users_telegram_id"),
    )
    op.create_table(
        "credit_accounts",
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_credit_accounts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_credit_accounts_user_id_users"),
        sa.CheckConstraint("balance >= 0", name="ck_credit_accounts_balance_not_negative"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", BigSerial, nullable=False, autoincrement=True),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("hold_key", sa.String, nullable=True),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.UniqueConstraint("key", name="uq_ledger_entries_key"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["credit_accounts.user_id"], name="fk_ledger_entries_user_id_credit_accounts"
        ),
        sa.CheckConstraint(
            "kind IN ('grant', 'hold', 'settle', 'void', 'adjust')", name="ck_ledger_entries_kind_known"
        ),
    )
    op.create_index("ix_ledger_entries_user_id_id", "ledger_entries", ["user_id", "id"])
    op.create_table(
        "credit_holds",
        sa.Column("key", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("resolved_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_credit_holds"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["credit_accounts.user_id"], name="fk_credit_holds_user_id_credit_accounts"
        ),
        sa.CheckConstraint("amount >= 0", name="ck_credit_holds_amount_not_negative"),
        sa.CheckConstraint(
            "state IN ('pending', 'settled', 'voided')", name="ck_credit_holds_state_known"
        ),
    )
    op.create_index(
        "ix_credit_holds_pending_expires_at", "credit_holds", ["expires_at"], **_where("state = 'pending'")
    )
    op.create_table(
        "generations",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String, nullable=False),
        sa.Column("model_name", sa.String, nullable=False),
        sa.Column("prompt", sa.Text, nullable=True),
        sa.Column("input_image_url", sa.Text, nullable=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("replicate_input", sa.JSON, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("prediction_id", sa.String, nullable=True),
        sa.Column("token_id", sa.String, nullable=True),
        sa.Column("output_urls", sa.JSON, nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("processing_time_ms", sa.BigInteger, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("completed_at", Timestamp, nullable=True),
        sa.Column("deleted_at", Timestamp, nullable=True),
        sa.Column("idempotency_key", sa.String, nullable=True),
        sa.Column("request_fingerprint", sa.String, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_generations"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_generations_user_id_users"),
        sa.UniqueConstraint("prediction_id", name="uq_generations_prediction_id"),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name="uq_generations_user_id_idempotency_key"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed', 'canceled')",
            name="ck_generations_status_known",
        ),
        sa.CheckConstraint("cost >= 0", name="ck_generations_cost_not_negative"),
    )
    newest = [sa.text("created_at DESC"), sa.text("id DESC")]
    op.create_index(
        "ix_generations_user_newest", "generations", ["user_id", *newest], **_where(NOT_DELETED)
    )
    op.create_index(
        "ix_generations_user_action_newest",
        "generations",
        ["user_id", "action", *newest],
        **_where(NOT_DELETED),
    )
    op.create_index(
        "ix_generations_user_status_newest",
        "generations",
        ["user_id", "status", *newest],
        **_where(NOT_DELETED),
    )
    op.create_index(
        "ix_generations_in_flight_updated_at", "generations", ["updated_at", "id"], **_where(IN_FLIGHT)
    )
    op.create_index(
        "ix_generations_in_flight_user_id", "generations", ["user_id"], **_where(IN_FLIGHT)
    )
    op.create_table(
        "replicate_tokens",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("label", sa.String, nullable=False),
        sa.Column("secret", sa.String, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("request_count", sa.BigInteger, nullable=False),
        sa.Column("error_count", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.Column("cooldown_until", Timestamp, nullable=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("disabled_reason", sa.String, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_replicate_tokens"),
        sa.UniqueConstraint("secret", name="uq_replicate_tokens_secret"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String, nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_webhook_deliveries"),
    )
    op.create_table(
        "parked_updates",
        sa.Column("seq", BigSerial, nullable=False, autoincrement=True),
        sa.Column("prediction_id", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("output", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("predict_time", sa.Float, nullable=True),
        sa.Column("completed_at", Timestamp, nullable=True),
        sa.Column("parked_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_parked_updates"),
    )
    op.create_index("ix_parked_updates_prediction_id", "parked_updates", ["prediction_id"])


def downgrade() -> None:
    op.drop_table("parked_updates")
    op.drop_table("webhook_deliveries")
    op.drop_table("replicate_tokens")
    op.drop_table("generations")
    op.drop_table("credit_holds")
    op.drop_table("ledger_entries")
    op.drop_table("credit_accounts")
    op.drop_table("users")
