"""Stand-ins for tests and offline experiments: a Replicate driven by hand, a clock that
moves when told, ids that count. Not for production (the real clock and ids are
`adapters.system.SystemClock` and `UuidIds`; the in-memory storage is `adapters.memory`)."""

from base_testing.clock import ManualClock, SequentialIds
from base_testing.inference import FakeInference, FakePrediction
from base_testing.payments import FakePayments

__all__ = ["FakeInference", "FakePayments", "FakePrediction", "ManualClock", "SequentialIds"]
