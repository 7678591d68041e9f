"""Parked webhook updates keep the core's trigger, not Replicate's status.

Replicate's statuses are the Replicate adapter's words; what an update means to the core
is its trigger (progress, succeed, fail, cancel). Updates parked before this revision
still hold Replicate's status in `status`; they are rewritten, and back on a downgrade.

Revision ID: 0005_parked_triggers
Revises: 0004_history_count
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_parked_triggers"
down_revision: str | Sequence[str] | None = "0004_history_count"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Replicate's status → the trigger, as the adapter translated them on 2026-12-01.
TO_TRIGGER = {
    "starting": "progress",
    "processing": "progress",
    "succeeded": "succeed",
    "failed": "fail",
    "canceled": "cancel",
    "aborted": "cancel",
}
# One status per trigger on the way back ("aborted" comes back as "canceled").
TO_STATUS = {"progress": "processing", "succeed": "succeeded", "fail": "failed", "cancel": "canceled"}


def _rewrite(mapping: dict[str, str]) -> None:
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in mapping.items())
    keys = ", ".join(f"'{old}'" for old in mapping)
    op.execute(f"UPDATE parked_updates SET status = CASE status {cases} END WHERE status IN ({keys})")


def upgrade() -> None:
    _rewrite(TO_TRIGGER)


def downgrade() -> None:
    _rewrite(TO_STATUS)
