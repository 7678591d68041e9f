"""Tokens belong to accounts; each account has one webhook signing secret."""

from __future__ import annotations

import base64
import secrets
import threading

from replicate_simulator.config import SimulatorConfig


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    return base64.b64decode(secret.removeprefix("whsec_"))


class Accounts:
    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._token_accounts: dict[str, str] = {}
        self._secrets: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._token_accounts = {token: token for token in self._config.tokens}
            self._token_accounts.update(self._config.accounts)
            self._secrets = dict(self._config.account_secrets)

    def add_token(self, token: str, account: str | None = None) -> str:
        with self._lock:
            self._token_accounts[token] = account or token
            return self._token_accounts[token]

    def remove_token(self, token: str) -> None:
        with self._lock:
            self._token_accounts.pop(token, None)

    def account_for(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._lock:
            account = self._token_accounts.get(token)
        if account is None and self._config.accept_any_token:
            return self.add_token(token)
        return account

    def secret_for_account(self, account: str) -> str:
        with self._lock:
            return self._secrets.setdefault(account, new_secret())

    def secret_for_token(self, token: str) -> str:
        account = self.account_for(token)
        if account is None:
            raise KeyError(f"unknown token {token!r}")
        return self.secret_for_account(account)

    def tokens(self) -> dict[str, str]:
        with self._lock:
            return dict(self._token_accounts)
