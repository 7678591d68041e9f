"""A Python client generated from the served OpenAPI document runs the seed's whole flow.

`openapi-python-client` turns `GET /schema/openapi.json` of a real `base serve` (SQLite,
the Replicate simulator) into a package; the test then does what the seed's client code
does, through that package only: the catalogue, a generation of every action, its status
until completed, the history with filters, a delete, and the 402 and 404 problems, each
parsed into the document's own models. A document that lies about a body, an enum or an
error makes the generated code fail here.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from adapters.auth import SessionTokens
from live_server import call, serving
from replicate_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.slow

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
SESSION_SECRET = "generated-client-session-secret-" + "x" * 32
SESSIONS = SessionTokens(SESSION_SECRET)
ADMIN_ID = str(uuid.UUID(int=0xAD))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("generated-client")
    simulator = Simulator(SimulatorConfig(accept_any_token=True, starting_delay=0.05, processing_delay=0.2))
    with simulator.running_in_thread() as running:
        env = {
            "BASE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'client.db'}",
            "BASE_REPLICATE_TOKENS": "r8_generatedclienttoken00000000000000001",
            "BASE_REPLICATE_BASE_URL": running.base_url,
            "BASE_SESSION_SECRET": SESSION_SECRET,
            "BASE_ADMIN_USER_IDS": ADMIN_ID,
            "BASE_ALLOW_PRIVATE_IMAGE_URLS": "true",
            "BASE_RECONCILE_AFTER_SECONDS": "1",
        }
        with serving(workdir, env) as (url, _log):
            yield url


@pytest.fixture(scope="module")
def client_package(server: str, tmp_path_factory) -> ModuleType:
    if not GENERATOR.exists() and shutil.which("openapi-python-client") is None:
        if os.environ.get("BASE_TEST_REQUIRE_OPENAPI_CLIENT"):
            pytest.fail("openapi-python-client is required (BASE_TEST_REQUIRE_OPENAPI_CLIENT)")
        pytest.skip("openapi-python-client is not installed (pip install -e '.[test]')")
    generator = str(GENERATOR) if GENERATOR.exists() else "openapi-python-client"
    out = tmp_path_factory.mktemp("client")
    status, document = call("GET", f"{server}/schema/openapi.json")
    assert status == 200
    (out / "openapi.json").write_text(json.dumps(document))
    (out / "config.yaml").write_text("post_hooks: []\npackage_name_override: base_client\n")
    result = subprocess.run(
        [generator, "generate", "--path", str(out / "openapi.json"), "--meta", "none",
         "--output-path", str(out / "base_client"), "--config", str(out / "config.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    # A warning means part of the document could not be turned into code.
    assert result.returncode == 0 and "Warning" not in result.stdout, result.stdout + result.stderr
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("base_client")
    finally:
        sys.path.remove(str(out))


def api(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"base_client.api.{name}")


def model(package: ModuleType, name: str) -> Any:
    return getattr(importlib.import_module("base_client.models"), name)


def test_the_seed_flow_through_the_generated_client(server: str, client_package: ModuleType) -> None:
    pkg = client_package
    Action, Status = model(pkg, "Action"), model(pkg, "Status")
    Problem = model(pkg, "Problem")
    user = pkg.AuthenticatedClient(base_url=server, token=SESSIONS.issue(str(uuid.uuid4())))
    anonymous = pkg.Client(base_url=server)

    catalogue = api(pkg, "models.api_models_list_list_models").sync(client=anonymous)
    assert {m.id for m in catalogue.models} == {"flux-schnell", "nano-banana-edit", "real-esrgan", "birefnet"}
    assert {m.action for m in catalogue.models} == set(Action)
    editing = api(pkg, "models.api_models_list_list_models").sync(client=anonymous, action=Action.EDIT)
    assert [m.id for m in editing.models] == ["nano-banana-edit"]

    create = api(pkg, "generations.api_generations_create_create")
    read = api(pkg, "generations.api_generations_generation_id_read")
    CreateGenerationIn = model(pkg, "CreateGenerationIn")
    Settings = model(pkg, "CreateGenerationInSettingsType0")
    # The document lists this deployment's models, so the client has them as an enum.
    ModelId = model(pkg, "CreateGenerationInModelId")

    def run(body: Any) -> Any:
        created = create.sync(client=user, body=body)
        assert not isinstance(created, Problem), created
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            generation = read.sync(created.id, client=user)
            if generation.status in (Status.COMPLETED, Status.FAILED, Status.CANCELED):
                return generation
            time.sleep(0.2)
        raise AssertionError(f"{created.id} never finished")

    first = run(CreateGenerationIn(
        action=Action.CREATE, model_id=ModelId("flux-schnell"), prompt="A beautiful sunset over mountains",
        settings=Settings.from_dict({"aspect_ratio": "16:9", "num_outputs": 1}),
    ))
    assert first.status == Status.COMPLETED and len(first.output_urls) == 1
    image = first.output_urls[0]
    bodies = {
        Action.EDIT: CreateGenerationIn(action=Action.EDIT, model_id=ModelId("nano-banana-edit"),
                                        prompt="Make it a watercolor painting", input_image_url=image),
        Action.UPSCALE: CreateGenerationIn(action=Action.UPSCALE, model_id=ModelId("real-esrgan"), input_image_url=image,
                                           settings=Settings.from_dict({"scale": 2})),
        Action.REMOVE_BG: CreateGenerationIn(action=Action.REMOVE_BG, model_id=ModelId("birefnet"), input_image_url=image),
    }
    done = {action: run(body) for action, body in bodies.items()}
    assert {g.status for g in done.values()} == {Status.COMPLETED}, done

    listing = api(pkg, "generations.api_generations_list_list_generations")
    everything = listing.sync(client=user, limit=10)
    assert everything.total == 4 and everything.total_pages == 1
    edits = listing.sync(client=user, action=Action.EDIT, status=Status.COMPLETED)
    assert [g.id for g in edits.generations] == [done[Action.EDIT].id]

    remove = api(pkg, "generations.api_generations_generation_id_remove")
    assert remove.sync(first.id, client=user).success is True
    gone = read.sync_detailed(first.id, client=user)
    assert gone.status_code == 404 and isinstance(gone.parsed, Problem) and gone.parsed.status == 404

    # 402: a user whose credits an administrator took away.
    admin = pkg.AuthenticatedClient(base_url=server, token=SESSIONS.issue(ADMIN_ID))
    poor_id = str(uuid.uuid4())
    poor = pkg.AuthenticatedClient(base_url=server, token=SESSIONS.issue(poor_id))
    me = api(pkg, "users.api_me_me").sync(client=poor)
    credits = api(pkg, "admin.api_admin_credits_credits").sync(
        client=admin, body=model(pkg, "CreditsIn")(user_id=poor_id, amount=-me.user.credits_, reason="test"),
    )
    assert credits.credits_ == 0  # the generator renames the field after a builtin
    refused = create.sync_detailed(client=poor, body=bodies[Action.EDIT])
    assert refused.status_code == 402 and isinstance(refused.parsed, Problem)
    assert (refused.parsed.needed, refused.parsed.available) == (editing.models[0].price, 0)

    # Stored outputs are images, as documented.
    output = api(pkg, "outputs.outputs_key_stored_output")
    deadline = time.monotonic() + 30
    upscaled = done[Action.UPSCALE]
    while not upscaled.output_urls[0].startswith(f"{server}/outputs/") and time.monotonic() < deadline:
        time.sleep(0.2)  # copied from Replicate in the background
        upscaled = read.sync(upscaled.id, client=user)
    key = upscaled.output_urls[0].split("/outputs/", 1)[1]
    stored = output.sync_detailed(key, client=anonymous)
    assert stored.status_code == 200 and stored.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unconfigured_feature_names_its_setting(server: str, client_package: ModuleType) -> None:
    telegram = api(client_package, "users.api_auth_telegram_telegram")
    body = model(client_package, "TelegramSignInIn")(init_data="user=%7B%7D&hash=00")
    answer = telegram.sync_detailed(client=client_package.Client(base_url=server), body=body)
    assert answer.status_code == 503
    problem = answer.parsed
    assert isinstance(problem, model(client_package, "Problem"))
    assert problem.setting == "BASE_TELEGRAM_BOT_TOKEN"
    assert "BASE_TELEGRAM_BOT_TOKEN" in problem.detail
