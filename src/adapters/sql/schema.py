"""The tables, as the adapter reads and writes them (migrations/ creates them).

One schema for SQLite and PostgreSQL. Money rules that the database can hold by itself
are written here as constraints: a balance never below zero, one ledger entry per key,
one hold per generation. tests/contract/test_migrations.py checks that the migrations
produce exactly these tables.
"""

from __future__ import annotations

from typing import TypedDict

import sqlalchemy as sa

from adapters.sql.types import BigSerial, UtcDateTime, json_column_type

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

IN_FLIGHT_SQL = "status IN ('pending', 'processing')"
NOT_DELETED_SQL = "deleted_at IS NULL"
OUTPUTS_TO_KEEP_SQL = "status = 'completed' AND outputs_kept_at IS NULL AND deleted_at IS NULL"


class _PartialIndex(TypedDict):
    """The dialect keywords that make an index partial, on both databases."""

    postgresql_where: sa.TextClause
    sqlite_where: sa.TextClause


def _partial(where: str) -> _PartialIndex:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("telegram_id", sa.BigInteger, nullable=True, unique=True),
    sa.Column("telegram_username", sa.String, nullable=True),
    sa.Column("telegram_first_name", sa.String, nullable=True),
    sa.Column("email", sa.String, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

credit_accounts = sa.Table(
    "credit_accounts",
    metadata,
    sa.Column("user_id", sa.String, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False),
    sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String, nullable=False, unique=True),
    sa.Column("user_id", sa.String, sa.ForeignKey("credit_accounts.user_id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("hold_key", sa.String, nullable=True),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # 0007: the purchase a purchase (or purchase refund) entry is for.
    sa.Column("purchase_id", sa.String, nullable=True),
    sa.CheckConstraint(
        "kind IN ('grant', 'hold', 'settle', 'void', 'adjust')", name="kind_known"
    ),
    sa.Index(None, "user_id", "id"),
)

credit_holds = sa.Table(
    "credit_holds",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, sa.ForeignKey("credit_accounts.user_id"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    sa.CheckConstraint("state IN ('pending', 'settled', 'voided')", name="state_known"),
    sa.Index("ix_credit_holds_pending_expires_at", "expires_at", **_partial("state = 'pending'")),
)

generations = sa.Table(
    "generations",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("model_id", sa.String, nullable=False),
    sa.Column("model_name", sa.String, nullable=False),
    sa.Column("prompt", sa.Text, nullable=True),
    sa.Column("input_image_url", sa.Text, nullable=True),
    sa.Column("settings", json_column_type(), nullable=False),
    sa.Column("replicate_input", json_column_type(), nullable=False),
    sa.Column("cost", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("prediction_id", sa.String, nullable=True, unique=True),
    sa.Column("token_id", sa.String, nullable=True),
    sa.Column("output_urls", json_column_type(), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("processing_time_ms", sa.BigInteger, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("deleted_at", UtcDateTime, nullable=True),
    sa.Column("idempotency_key", sa.String, nullable=True),
    sa.Column("request_fingerprint", sa.String, nullable=True),
    # 0002: Replicate's own output URLs, when the copies were stored, the reconciler's lease.
    sa.Column("source_urls", json_column_type(), nullable=True),
    sa.Column("outputs_kept_at", UtcDateTime, nullable=True),
    sa.Column("next_check_at", UtcDateTime, nullable=True),
    # 0006: the output store's keys of the copies; the upload taken as input.
    sa.Column("output_keys", json_column_type(), nullable=True),
    sa.Column("input_upload_id", sa.String, nullable=True),
    # 0008: counts the changes a user can see; the live feed orders states by it.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint(
        "status IN ('pending', 'processing', 'completed', 'failed', 'canceled')",
        name="status_known",
    ),
    sa.CheckConstraint("cost >= 0", name="cost_not_negative"),
    sa.UniqueConstraint("user_id", "idempotency_key"),
    # The history page: one user's visible generations, newest first, optionally by
    # action or status.
    # 0008: what changed for one user since a moment (the live streams' fallback read).
    sa.Index("ix_generations_user_updated", "user_id", "updated_at", "id"),
    sa.Index(
        "ix_generations_user_newest",
        "user_id", sa.text("created_at DESC"), sa.text("id DESC"),
        **_partial(NOT_DELETED_SQL),
    ),
    sa.Index(
        "ix_generations_user_action_newest",
        "user_id", "action", sa.text("created_at DESC"), sa.text("id DESC"),
        **_partial(NOT_DELETED_SQL),
    ),
    sa.Index(
        "ix_generations_user_status_newest",
        "user_id", "status", sa.text("created_at DESC"), sa.text("id DESC"),
        **_partial(NOT_DELETED_SQL),
    ),
    # The history page's total: narrower than the ordering index, so counting a long
    # history reads fewer pages (0004).
    sa.Index("ix_generations_user_visible", "user_id", **_partial(NOT_DELETED_SQL)),
    # The reconciler's scan and the per-user in-flight cap.
    sa.Index("ix_generations_in_flight_updated_at", "updated_at", "id", **_partial(IN_FLIGHT_SQL)),
    sa.Index("ix_generations_in_flight_user_id", "user_id", **_partial(IN_FLIGHT_SQL)),
    # The reconciler's search for outputs still to copy (0002).
    sa.Index("ix_generations_outputs_to_keep", "completed_at", **_partial(OUTPUTS_TO_KEEP_SQL)),
    # Whether an upload is still some generation's input (0006).
    sa.Index("ix_generations_input_upload_id", "input_upload_id", **_partial(NOT_DELETED_SQL)),
)

replicate_tokens = sa.Table(
    "replicate_tokens",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("label", sa.String, nullable=False),
    sa.Column("secret", sa.String, nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("request_count", sa.BigInteger, nullable=False),
    sa.Column("error_count", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("cooldown_until", UtcDateTime, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("disabled_reason", sa.String, nullable=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String, primary_key=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
)

parked_updates = sa.Table(
    "parked_updates",
    metadata,
    sa.Column("seq", BigSerial, primary_key=True, autoincrement=True),
    sa.Column("prediction_id", sa.String, nullable=False, index=True),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("output", json_column_type(), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("predict_time", sa.Float, nullable=True),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("parked_at", UtcDateTime, nullable=False),
)

# Purchases of credit packs (0007). A payment's charge id is unique per provider, and the
# credit it made is the ledger entry `purchase:<provider>:<charge id>` (unique as well).
purchases = sa.Table(
    "purchases",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("pack_id", sa.String, nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("credits", sa.BigInteger, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("checkout_ref", sa.String, nullable=True),
    sa.Column("checkout_url", sa.Text, nullable=True),
    sa.Column("charge_id", sa.String, nullable=True),
    sa.Column("payment_ref", sa.String, nullable=True),
    sa.Column("payer_ref", sa.String, nullable=True),
    sa.Column("paid_at", UtcDateTime, nullable=True),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("credited", sa.BigInteger, nullable=False),
    sa.Column("deducted", sa.BigInteger, nullable=False),
    sa.Column("shortfall", sa.BigInteger, nullable=False),
    sa.Column("review_reason", sa.Text, nullable=True),
    sa.CheckConstraint(
        "status IN ('pending', 'paid', 'refunded', 'expired', 'failed')", name="status_known"
    ),
    sa.CheckConstraint("provider IN ('telegram', 'stripe')", name="provider_known"),
    sa.CheckConstraint("credited >= 0 AND deducted >= 0 AND shortfall >= 0", name="amounts_not_negative"),
    sa.UniqueConstraint("provider", "charge_id"),
    sa.Index("ix_purchases_provider_payment_ref", "provider", "payment_ref"),
    sa.Index("ix_purchases_created_at", sa.text("created_at DESC"), sa.text("id DESC")),
    sa.Index("ix_purchases_user_id", "user_id"),
)

# Secrets the service generates for itself on first start (the session-token key), so that
# every process on one database shares them.
service_secrets = sa.Table(
    "service_secrets",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# 0006: a user's uploaded images (the bytes are in the output store, under `key`).
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("user_id", sa.String, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("key", sa.String, nullable=False, unique=True),
    sa.Column("content_type", sa.String, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# 0006: stored objects to delete (a deleted generation's copies, an unused upload); the
# reconciler retries what the store could not delete at once.
stored_deletions = sa.Table(
    "stored_deletions",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("queued_at", UtcDateTime, nullable=False),
)

__all__ = [
    "credit_accounts",
    "credit_holds",
    "generations",
    "ledger_entries",
    "metadata",
    "parked_updates",
    "purchases",
    "replicate_tokens",
    "service_secrets",
    "stored_deletions",
    "uploads",
    "users",
    "webhook_deliveries",
]
