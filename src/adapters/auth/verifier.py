"""One bearer-token verifier for the HTTP layer: session tokens or Supabase tokens."""

from __future__ import annotations

from base_core.errors import Unauthenticated
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
    ) -> None:
        self._session = session
        self._supabase = supabase

    async def verify(self, bearer_token: str) -> Identity:
        issuer = unverified_claims(bearer_token).get("iss")
        if self._session is not None and issuer == self._session.issuer:
            return await self._session.verify(bearer_token)
        if self._supabase is None:
            raise Unauthenticated("no verifier for this token")
        if self._supabase.issuer is not None and issuer != self._supabase.issuer:
            raise Unauthenticated("no verifier for this token")
        return await self._supabase.verify(bearer_token)
