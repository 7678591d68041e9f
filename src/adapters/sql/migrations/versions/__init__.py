"""Migration scripts, oldest first; Alembic loads them by path."""
