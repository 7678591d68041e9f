"""Purchases of credit packs, and the purchase a ledger entry belongs to.

Revision ID: 0007_purchases
Revises: 0006_output_keys
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_purchases"
down_revision: str | Sequence[str] | None = "0006_output_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "purchases",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("user_id", sa.String, nullable=False),
        sa.Column("pack_id", sa.String, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("credits", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("checkout_ref", sa.String, nullable=True),
        sa.Column("checkout_url", sa.Text, nullable=True),
        sa.Column("charge_id", sa.String, nullable=True),
        sa.Column("payment_ref", sa.String, nullable=True),
        sa.Column("payer_ref", sa.String, nullable=True),
        sa.Column("paid_at", Timestamp, nullable=True),
        sa.Column("ended_at", Timestamp, nullable=True),
        sa.Column("credited", sa.BigInteger, nullable=False),
        sa.Column("deducted", sa.BigInteger, nullable=False),
        sa.Column("shortfall", sa.BigInteger, nullable=False),
        sa.Column("review_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_purchases"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_purchases_user_id_users"),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'refunded', 'expired', 'failed')", name="ck_purchases_status_known"
        ),
        sa.CheckConstraint("provider IN ('telegram', 'stripe')", name="ck_purchases_provider_known"),
        sa.CheckConstraint(
            "credited >= 0 AND deducted >= 0 AND shortfall >= 0", name="ck_purchases_amounts_not_negative"
        ),
        sa.UniqueConstraint("provider", "charge_id", name="uq_purchases_provider_charge_id"),
    )
    op.create_index("ix_purchases_provider_payment_ref", "purchases", ["provider", "payment_ref"])
    op.create_index("ix_purchases_created_at", "purchases", [sa.text("created_at DESC"), sa.text("id DESC")])
    op.create_index("ix_purchases_user_id", "purchases", ["user_id"])
    op.add_column("ledger_entries", sa.Column("purchase_id", sa.String, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("purchase_id")
    op.drop_index("ix_purchases_user_id", table_name="purchases")
    op.drop_index("ix_purchases_created_at", table_name="purchases")
    op.drop_index("ix_purchases_provider_payment_ref", table_name="purchases")
    op.drop_table("purchases")
