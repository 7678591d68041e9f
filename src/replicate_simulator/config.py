"""How a simulator is set up, and the settings that can change while it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs


@attrs.frozen
class SimulatorConfig:
    """Start-up configuration.

    Every token in `tokens` is its own account unless `accounts` maps it to one; tokens
    named only in `accounts` are valid too. `account_secrets` pins an account's webhook
    secret (`whsec_<base64>`); other accounts get a random one. `page_size` is how many
    predictions a page of `GET /v1/predictions` holds (Replicate's is 100).
    """

    tokens: Sequence[str] = ()
    accounts: Mapping[str, str] = attrs.field(factory=dict)
    account_secrets: Mapping[str, str] = attrs.field(factory=dict)
    accept_any_token: bool = False
    starting_delay: float | None = None
    processing_delay: float = 1.0
    retention: float | None = None
    webhook_attempts: int = 4
    webhook_backoff: float = 0.1
    webhook_timeout: float = 5.0
    fetch_timeout: float = 10.0
    image_long_side: int = 256
    max_upscale_side: int = 4096
    public_url: str | None = None
    page_size: int = 100


@attrs.define
class Settings:
    """Timings that tests and the admin routes may change on a running simulator.

    `starting_delay` is how long a prediction stays `starting`; `processing_delay` how
    long it stays `processing`; `retention` how long after it ends its output is kept
    (None: forever).
    """

    starting_delay: float
    processing_delay: float
    retention: float | None

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> Settings:
        starting = config.processing_delay if config.starting_delay is None else config.starting_delay
        return cls(starting, config.processing_delay, config.retention)

    def to_json(self) -> dict[str, float | None]:
        return {
            "starting_delay": self.starting_delay,
            "processing_delay": self.processing_delay,
            "retention": self.retention,
        }

    def update(self, changes: Mapping[str, object]) -> None:
        unknown = set(changes) - {"starting_delay", "processing_delay", "retention"}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            if value is None and name == "retention":
                self.retention = None
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                setattr(self, name, float(value))
            else:
                raise ValueError(f"{name} must be a non-negative number")
