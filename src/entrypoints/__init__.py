"""Ways into .base: the HTTP API, the `base` command, and the composition root."""

__all__: list[str] = []
