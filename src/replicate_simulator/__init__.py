"""A local simulation of the part of Replicate's HTTP API this project uses.

Predictions for four models (flux-schnell, nano-banana, real-esrgan, birefnet) move
through Replicate's statuses over configurable delays, produce real image files served
from the simulator's own `/files/` URLs, and report to signed webhooks. Faults (error
statuses, slow answers, failed or aborted predictions, duplicate, late or lost webhooks)
can be injected from Python or over the `/_sim/` admin routes.

    async with Simulator(SimulatorConfig(tokens=["r8_a"], processing_delay=0.05)).running() as sim:
        client = replicate.Client(api_token="r8_a", base_url=sim.base_url)
"""

from replicate_simulator.config import Settings, SimulatorConfig
from replicate_simulator.faults import Fault, Faults
from replicate_simulator.models import KNOWN_MODELS, ModelSpec
from replicate_simulator.server import Simulator, main, serve
from replicate_simulator.state import RequestRecord, WebhookRecord
from replicate_simulator.webhooks import sign

__all__ = [
    "KNOWN_MODELS",
    "Fault",
    "Faults",
    "ModelSpec",
    "RequestRecord",
    "Settings",
    "Simulator",
    "SimulatorConfig",
    "WebhookRecord",
    "main",
    "serve",
    "sign",
]
