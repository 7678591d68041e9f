"""In-memory adapters: storage and the output store, the whole service in one process.

Stand-ins for Replicate, the clock and ids live in `base_testing`."""

from adapters.memory.outputs import MemoryOutputStore
from adapters.memory.store import MemoryStore, MemoryUnitOfWork

__all__ = ["MemoryOutputStore", "MemoryStore", "MemoryUnitOfWork"]
