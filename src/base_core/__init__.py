"""The domain core of .base: models, generations, credits, tokens, and the use cases.

Pure: no I/O, no framework, no SQL, no HTTP. The outside world comes in through the
ports in `base_core.ports`.
"""

from base_core.generation import (
    Generation,
    GenerationPage,
    GenerationQuery,
    PredictionUpdate,
    Status,
)
from base_core.identity import Identity, IdentityVerifier
from base_core.image_urls import UrlPolicy
from base_core.ledger import CreditAccount, EntryKind, Hold, HoldState, LedgerEntry
from base_core.ports import TokenCredential, WebhookTarget
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
from base_core.users import TelegramProfile, User

__all__ = [
    "Action",
    "Context",
    "CreditAccount",
    "EntryKind",
    "Generation",
    "GenerationPage",
    "GenerationQuery",
    "GenerationRequest",
    "Hold",
    "HoldState",
    "Identity",
    "IdentityVerifier",
    "LedgerEntry",
    "ModelRegistry",
    "ModelSpec",
    "PredictionUpdate",
    "PreparedGeneration",
    "ReplicateToken",
    "RotationPolicy",
    "SettingSpec",
    "SettingType",
    "Status",
    "Studio",
    "StudioConfig",
    "TelegramProfile",
    "TokenCredential",
    "TokenStats",
    "UrlPolicy",
    "User",
    "UserView",
    "WebhookTarget",
    "builtin_registry",
]
