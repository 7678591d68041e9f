"""Who is calling: the result of verifying a bearer token."""
from __future__ import annotations

from typing import Protocol

import attrs


@attrs.frozen
class Identity:
    user_id: str              # the user's id in .base (a UUID string)
    provider: str             # "supabase" or "telegram"
    email: str | None = None

class IdentityVerifier(Protocol):
    async def verify(self, bearer_token: str) -> Identity:
        """Raise base_core.errors.Unauthenticated when the token does not verify."""
        ...
