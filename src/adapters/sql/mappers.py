"""Domain objects to rows and back, one pair of functions per aggregate.

Rows are plain mappings of column name to value (what `Row._mapping` gives). Every field
is named on both sides, so a field added to the domain and forgotten here fails the
round-trip tests instead of vanishing quietly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from base_core.generation import Generation, PredictionUpdate, Status
from base_core.ledger import CreditAccount, EntryKind, Hold, HoldState, LedgerEntry
from base_core.registry import Action
from base_core.tokens import ReplicateToken
from base_core.users import User

Row = Mapping[str, Any]

# Enum members by stored value: a dict lookup instead of the enum's call machinery.
_ACTIONS = {action.value: action for action in Action}
_STATUSES = {status.value: status for status in Status}


def user_to_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "telegram_id": user.telegram_id,
        "telegram_username": user.telegram_username,
        "telegram_first_name": user.telegram_first_name,
        "email": user.email,
        "created_at": user.created_at,
    }


def user_from_row(row: Row) -> User:
    return User(
        id=row["id"],
        created_at=row["created_at"],
        telegram_id=row["telegram_id"],
        telegram_username=row["telegram_username"],
        telegram_first_name=row["telegram_first_name"],
        email=row["email"],
    )


def account_to_row(account: CreditAccount) -> dict[str, Any]:
    return {"user_id": account.user_id, "balance": account.balance}


def account_from_row(row: Row) -> CreditAccount:
    return CreditAccount(user_id=row["user_id"], balance=row["balance"])


def entry_to_row(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "user_id": entry.user_id,
        "kind": entry.kind.value,
        "amount": entry.amount,
        "hold_key": entry.hold_key,
        "reason": entry.reason,
        "created_at": entry.created_at,
    }


def entry_from_row(row: Row) -> LedgerEntry:
    return LedgerEntry(
        key=row["key"],
        user_id=row["user_id"],
        kind=EntryKind(row["kind"]),
        amount=row["amount"],
        created_at=row["created_at"],
        hold_key=row["hold_key"],
        reason=row["reason"],
    )


def hold_to_row(hold: Hold) -> dict[str, Any]:
    return {
        "key": hold.key,
        "user_id": hold.user_id,
        "amount": hold.amount,
        "state": hold.state.value,
        "created_at": hold.created_at,
        "expires_at": hold.expires_at,
        "resolved_at": hold.resolved_at,
    }


def hold_from_row(row: Row) -> Hold:
    return Hold(
        key=row["key"],
        user_id=row["user_id"],
        amount=row["amount"],
        state=HoldState(row["state"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        resolved_at=row["resolved_at"],
    )


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists, scalars): deepcopy's work without its
    memo and reduce protocol, which cost more than the copy itself here."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def generation_to_row(generation: Generation) -> dict[str, Any]:
    # Deep copies: the row must not share mutable JSON with a live domain object.
    return {
        "id": generation.id,
        "user_id": generation.user_id,
        "action": generation.action.value,
        "model_id": generation.model_id,
        "model_name": generation.model_name,
        "prompt": generation.prompt,
        "input_image_url": generation.input_image_url,
        "settings": _json_copy(generation.settings),
        "replicate_input": _json_copy(generation.replicate_input),
        "cost": generation.cost,
        "status": generation.status.value,
        "prediction_id": generation.prediction_id,
        "token_id": generation.token_id,
        "output_urls": list(generation.output_urls) if generation.output_urls is not None else None,
        "error_message": generation.error_message,
        "processing_time_ms": generation.processing_time_ms,
        "created_at": generation.created_at,
        "updated_at": generation.updated_at,
        "completed_at": generation.completed_at,
        "deleted_at": generation.deleted_at,
        "idempotency_key": generation.idempotency_key,
        "request_fingerprint": generation.request_fingerprint,
        "source_urls": list(generation.source_urls) if generation.source_urls is not None else None,
        "outputs_kept_at": generation.outputs_kept_at,
        "next_check_at": generation.next_check_at,
    }


def generation_from_row(row: Row) -> Generation:
    output_urls = row["output_urls"]
    source_urls = row["source_urls"]
    return Generation(
        id=row["id"],
        user_id=row["user_id"],
        action=_ACTIONS[row["action"]],
        model_id=row["model_id"],
        model_name=row["model_name"],
        prompt=row["prompt"],
        input_image_url=row["input_image_url"],
        # Decoded for this read alone: handed over, not copied.
        settings=row["settings"],
        replicate_input=row["replicate_input"],
        cost=row["cost"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status=_STATUSES[row["status"]],
        prediction_id=row["prediction_id"],
        token_id=row["token_id"],
        output_urls=[str(url) for url in output_urls] if output_urls is not None else None,
        error_message=row["error_message"],
        processing_time_ms=row["processing_time_ms"],
        completed_at=row["completed_at"],
        deleted_at=row["deleted_at"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
        source_urls=[str(url) for url in source_urls] if source_urls is not None else None,
        outputs_kept_at=row["outputs_kept_at"],
        next_check_at=row["next_check_at"],
    )


def token_to_row(token: ReplicateToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "label": token.label,
        "secret": token.secret,
        "created_at": token.created_at,
        "is_active": token.is_active,
        "request_count": token.request_count,
        "error_count": token.error_count,
        "last_used_at": token.last_used_at,
        "cooldown_until": token.cooldown_until,
        "consecutive_failures": token.consecutive_failures,
        "disabled_reason": token.disabled_reason,
    }


def token_from_row(row: Row) -> ReplicateToken:
    return ReplicateToken(
        id=row["id"],
        label=row["label"],
        secret=row["secret"],
        created_at=row["created_at"],
        is_active=bool(row["is_active"]),
        request_count=row["request_count"],
        error_count=row["error_count"],
        last_used_at=row["last_used_at"],
        cooldown_until=row["cooldown_until"],
        consecutive_failures=row["consecutive_failures"],
        disabled_reason=row["disabled_reason"],
    )


def update_to_row(update: PredictionUpdate, parked_at: datetime) -> dict[str, Any]:
    return {
        "prediction_id": update.prediction_id,
        "status": update.status,
        "output": list(update.output) if update.output is not None else None,
        "error": update.error,
        "predict_time": update.predict_time,
        "completed_at": update.completed_at,
        "parked_at": parked_at,
    }


def update_from_row(row: Row) -> PredictionUpdate:
    output = row["output"]
    return PredictionUpdate(
        prediction_id=row["prediction_id"],
        status=row["status"],
        output=tuple(str(url) for url in output) if output is not None else None,
        error=row["error"],
        predict_time=row["predict_time"],
        completed_at=row["completed_at"],
    )
