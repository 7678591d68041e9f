"""One bearer-token verifier for the HTTP layer: session tokens or Supabase tokens."""

from __future__ import annotations

from base_core.errors import BaseError, Unauthenticated
from base_core.identity import Identity

from ._common import unverified_claims
from .session import SessionTokens
from .supabase import SupabaseJwtVerifier


class BearerVerifier:
    """Routes a token by its (unverified) `iss` to the verifier that owns that issuer.

    Reading `iss` before the signature is safe because the chosen verifier checks the
    signature and the issuer again; a forged `iss` only picks who refuses the token.
    """

    def __init__(
        self,
        session: SessionTokens | None = None,
        supabase: SupabaseJwtVerifier | None = None,
        supabase_missing: BaseError | None = None,
    ) -> None:
        """`supabase_missing` is raised for a token that looks like Supabase's when no
        Supabase verifier is configured (the entrypoint names the settings to set)."""
        self._session = session
        self._supabase = supabase
        self._supabase_missing = supabase_missing

    async def verify(self, bearer_token: str) -> Identity:
        claims = unverified_claims(bearer_token)
        issuer = claims.get("iss")
        if self._session is not None and issuer == self._session.issuer:
            return await self._session.verify(bearer_token)
        if self._supabase is None:
            if self._supabase_missing is not None and _looks_like_supabase(claims):
                raise self._supabase_missing
            raise Unauthenticated("no verifier for this token")
        if self._supabase.issuer is not None and issuer != self._supabase.issuer:
            raise Unauthenticated("no verifier for this token")
        return await self._supabase.verify(bearer_token)


def _looks_like_supabase(claims: dict[str, object]) -> bool:
    """Supabase's access tokens: issued by `<project>/auth/v1`, for the `authenticated` audience."""
    issuer = claims.get("iss")
    return (isinstance(issuer, str) and issuer.rstrip("/").endswith("/auth/v1")) or claims.get(
        "aud"
    ) == "authenticated"
