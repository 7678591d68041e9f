"""The core's front door: one object with every use case, for the API, the CLI and embedders."""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from datetime import datetime
from typing import Any

from base_core.background import Poller
from base_core.generation import Generation, GenerationPage, GenerationQuery, PredictionUpdate
from base_core.ledger import LedgerEntry
from base_core.packs import CreditPack
from base_core.ports import StoredObject
from base_core.purchases import Provider, Purchase, PurchaseQuery
from base_core.registry import Action, GenerationRequest, ModelSpec
from base_core.tokens import ReplicateToken, TokenStats
from base_core.uploads import Upload, UploadedImage
from base_core.usecases import accounts, files, generations, purchases, reconcile, tokens, vitals
from base_core.usecases.accounts import UserView
from base_core.usecases.context import Context
from base_core.usecases.purchases import HistoryPage, PaymentNews
from base_core.usecases.reconcile import ReconcilePolicy, ReconcileReport
from base_core.usecases.vitals import Vitals
from base_core.users import TelegramProfile

# Users are never deleted, so one confirmed to exist needs no second look; bounded so a
# flood of new users cannot grow the process.
KNOWN_USERS_LIMIT = 100_000


class Studio:
    def __init__(self, context: Context) -> None:
        self.context = context
        self._known_users: set[str] = set()

    # The catalogue

    def models(self, action: Action | None = None) -> list[ModelSpec]:
        return self.context.registry.list(action)

    # Users and credits

    async def ensure_user(self, user_id: str, email: str | None = None) -> UserView:
        return await accounts.ensure_user(self.context, user_id, email)

    async def admit(self, user_id: str, email: str | None = None) -> None:
        """`ensure_user` for every request: only a user not seen by this process costs a read."""
        if user_id in self._known_users:
            return
        await accounts.ensure_user(self.context, user_id, email)
        if len(self._known_users) >= KNOWN_USERS_LIMIT:
            self._known_users.clear()
        self._known_users.add(user_id)

    async def sign_in_telegram(self, profile: TelegramProfile) -> UserView:
        return await accounts.sign_in_telegram(self.context, profile)

    async def user(self, user_id: str) -> UserView:
        return await accounts.get_user(self.context, user_id)

    async def balance(self, user_id: str) -> int:
        return await accounts.balance(self.context, user_id)

    async def adjust_credits(
        self, user_id: str, amount: int, reason: str = "", key: str | None = None
    ) -> int:
        return await accounts.adjust_credits(self.context, user_id, amount, reason, key)

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        return await accounts.ledger_entries(self.context, user_id)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.context.config.admin_user_ids

    # Generations

    def create_generation(
        self, user_id: str, request: GenerationRequest, idempotency_key: str | None = None
    ) -> Coroutine[Any, Any, Generation]:
        return generations.create_generation(self.context, user_id, request, idempotency_key)

    def apply_update(
        self, update: PredictionUpdate, delivery_id: str | None = None
    ) -> Coroutine[Any, Any, Generation | None]:
        return generations.apply_update(self.context, update, delivery_id)

    async def generation(self, user_id: str, generation_id: str) -> Generation:
        return await generations.get_generation(self.context, user_id, generation_id)

    async def find_generation(self, user_id: str, generation_id: str) -> Generation | None:
        """The user's generation even when deleted (what a live stream reports), else None."""
        return await generations.find_generation(self.context, user_id, generation_id)

    async def generations_changed_since(
        self, user_id: str, since: datetime, limit: int = 500
    ) -> list[Generation]:
        return await generations.changed_since(self.context, user_id, since, limit)

    async def generations(self, query: GenerationQuery) -> GenerationPage:
        return await generations.list_generations(self.context, query)

    async def delete_generation(self, user_id: str, generation_id: str) -> None:
        await generations.delete_generation(self.context, user_id, generation_id)

    async def refresh(self, generation_id: str) -> Generation | None:
        return await generations.refresh(self.context, generation_id)

    def background(self, **options: Any) -> Poller:
        """The polling and reconciling loop for this studio, as one asyncio task:
        `async with studio.background(reconcile=ReconcilePolicy()):` (options: Poller's)."""
        return Poller(self.context, **options)

    async def reconcile(self, policy: ReconcilePolicy | None = None) -> ReconcileReport:
        """One reconciler round: quiet, orphaned and overdue generations, outputs, holds."""
        return await reconcile.reconcile_once(self.context, policy)

    async def stored_object(self, key: str, byte_range: tuple[int, int] | None = None) -> StoredObject | None:
        """A kept copy of a result or an upload, by its key, streamed (None without a store)."""
        store = self.context.outputs
        return None if store is None else await store.open(key, byte_range)

    # Uploads

    async def add_upload(self, user_id: str, image: UploadedImage) -> Upload:
        """Keep a verified image of the user's; its URL may then be a generation's input."""
        return await files.add_upload(self.context, user_id, image)

    async def upload(self, user_id: str, upload_id: str) -> Upload:
        """One of the user's uploads; NotFound for anyone else's."""
        return await files.get_upload(self.context, user_id, upload_id)

    # The token pool

    async def add_token(self, secret: str, label: str | None = None) -> ReplicateToken:
        return await tokens.add_token(self.context, secret, label)

    async def ensure_tokens(self, secrets: Iterable[str]) -> list[ReplicateToken]:
        return await tokens.ensure_tokens(self.context, secrets)

    async def set_token_active(self, token_id: str, active: bool) -> ReplicateToken:
        return await tokens.set_token_active(self.context, token_id, active)

    async def vitals(self) -> Vitals:
        """The shared state operators watch: tokens by state, generations in flight, holds."""
        return await vitals.vitals(self.context)

    async def token_stats(self) -> TokenStats:
        return await tokens.token_stats(self.context)

    # Credit packs and purchases

    def packs(self) -> list[CreditPack]:
        return list(self.context.packs)

    def sells_through(self, provider: Provider) -> bool:
        return provider in self.context.payments

    async def start_purchase(self, user_id: str, pack_id: str, provider: Provider) -> Purchase:
        return await purchases.start_purchase(self.context, user_id, pack_id, provider)

    async def pre_checkout_refusal(
        self, purchase_id: str, currency: str | None, amount: int | None
    ) -> str | None:
        return await purchases.pre_checkout_refusal(self.context, purchase_id, currency, amount)

    async def apply_payment(self, news: PaymentNews) -> Purchase | None:
        return await purchases.apply_news(self.context, news)

    async def refund_purchase(self, purchase_id: str) -> Purchase:
        return await purchases.refund_purchase(self.context, purchase_id)

    async def purchase(self, user_id: str, purchase_id: str) -> Purchase:
        return await purchases.get_purchase(self.context, user_id, purchase_id)

    async def purchases(self, query: PurchaseQuery) -> list[Purchase]:
        return await purchases.find_purchases(self.context, query)

    async def credit_history(self, user_id: str, page: int = 1, limit: int = 20) -> HistoryPage:
        return await purchases.credit_history(self.context, user_id, page, limit)

    async def audit(self) -> list[str]:
        """Every balance against its ledger, every paid purchase against its pack."""
        return await purchases.audit(self.context)
