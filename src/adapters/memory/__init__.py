"""In-memory adapters for every port: the whole service, offline, in one process."""

from adapters.memory.clock import ManualClock, SequentialIds
from adapters.memory.inference import FakeInference, FakePrediction
from adapters.memory.outputs import MemoryOutputStore
from adapters.memory.store import MemoryStore, MemoryUnitOfWork

__all__ = [
    "FakeInference",
    "FakePrediction",
    "ManualClock",
    "MemoryOutputStore",
    "MemoryStore",
    "MemoryUnitOfWork",
    "SequentialIds",
]
