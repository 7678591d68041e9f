"""The domain core of .base: models, generations, credits, tokens, and the use cases.

Pure: no I/O, no framework, no SQL, no HTTP. An embedder needs what is exported here: the
facade (`Studio`, `Context`, `StudioConfig`), the request and view types, the error tree,
the domain events and their dispatcher, and the background loop. Adapter authors find the
ports in `base_core.ports`; stand-ins for tests live in `base_testing`.
"""

from base_core import errors, events
from base_core.background import Poller
from base_core.errors import (
    BaseError,
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyConflict,
    InfrastructureError,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    NoTokenAvailable,
    ProviderError,
    ProviderInputRejected,
    TokenError,
    TooManyInFlight,
    Unauthenticated,
)
from base_core.events import DomainEvent, EventDispatcher
from base_core.generation import (
    Cancellation,
    Failure,
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
    Status,
    Trigger,
)
from base_core.identity import Identity, IdentityVerifier
from base_core.image_urls import UrlPolicy
from base_core.ledger import CreditAccount, EntryKind, Hold, HoldState, LedgerEntry
from base_core.packs import CreditPack, PackCatalogue, builtin_packs
from base_core.ports import TokenCredential, WebhookTarget
from base_core.purchases import Provider, Purchase, PurchaseQuery, PurchaseStatus
from base_core.registry import (
    Action,
    GenerationRequest,
    ModelRegistry,
    ModelSpec,
    PreparedGeneration,
    SettingSpec,
    SettingType,
    builtin_registry,
)
from base_core.studio import Studio
from base_core.tokens import ReplicateToken, RotationPolicy, TokenStats
from base_core.usecases import Context, StudioConfig
from base_core.usecases.accounts import UserView
from base_core.usecases.purchases import HistoryPage, PaymentNews
from base_core.usecases.reconcile import ReconcilePolicy, ReconcileReport
from base_core.users import TelegramProfile, User

__all__ = [
    "Action",
    "BaseError",
    "Cancellation",
    "Conflict",
    "Context",
    "CreditAccount",
    "CreditPack",
    "DomainError",
    "DomainEvent",
    "EntryKind",
    "EventDispatcher",
    "Failure",
    "Forbidden",
    "Generation",
    "GenerationPage",
    "GenerationQuery",
    "GenerationRequest",
    "HistoryPage",
    "Hold",
    "HoldState",
    "IdempotencyConflict",
    "Identity",
    "IdentityVerifier",
    "InfrastructureError",
    "InsufficientCredits",
    "InvalidRequest",
    "LedgerEntry",
    "ModelRegistry",
    "ModelSpec",
    "NoTokenAvailable",
    "NotFound",
    "PackCatalogue",
    "PaymentNews",
    "Poller",
    "PredictionUpdate",
    "PreparedGeneration",
    "Provider",
    "ProviderError",
    "ProviderInputRejected",
    "Purchase",
    "PurchaseQuery",
    "PurchaseStatus",
    "ReconcilePolicy",
    "ReconcileReport",
    "ReplicateToken",
    "RotationPolicy",
    "SettingSpec",
    "SettingType",
    "Status",
    "Studio",
    "StudioConfig",
    "TelegramProfile",
    "TokenCredential",
    "TokenError",
    "TokenStats",
    "TooManyInFlight",
    "Trigger",
    "Unauthenticated",
    "UrlPolicy",
    "User",
    "UserView",
    "WebhookTarget",
    "builtin_packs",
    "builtin_registry",
    "errors",
    "events",
]
