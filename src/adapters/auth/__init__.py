"""Sign-in adapters: Supabase access tokens, Telegram initData, and session tokens."""

from ._common import Clock
from .jwks import JwksCache, JwksFetch, SigningKey, httpx_fetch, parse_jwks
from .session import SESSION_AUDIENCE, SessionTokens
from .supabase import SupabaseJwtVerifier
from .telegram import TelegramInitDataVerifier, TelegramUser, sign_init_data
from .verifier import BearerVerifier

__all__ = [
    "SESSION_AUDIENCE",
    "BearerVerifier",
    "Clock",
    "JwksCache",
    "JwksFetch",
    "SessionTokens",
    "SigningKey",
    "SupabaseJwtVerifier",
    "TelegramInitDataVerifier",
    "TelegramUser",
    "httpx_fetch",
    "parse_jwks",
    "sign_init_data",
]
