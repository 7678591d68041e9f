"""`base serve` as a real process: a whole generation over HTTP, and the seed's examples."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from e2e_helpers import call

pytestmark = pytest.mark.slow

# The seed's cURL body for POST /api/generations/create, as written.
SEED_CURL_BODY = {
    "action": "create",
    "model_id": "flux-schnell",
    "prompt": "A beautiful sunset over mountains",
    "settings": {"aspect_ratio": "16:9", "num_outputs": 1},
}


def wait_for(server, token: str, generation_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, generation = call("GET", f"{server.url}/api/generations/{generation_id}", token=token)
        assert status == 200
        if generation["status"] in ("completed", "failed", "canceled"):
            return generation
        time.sleep(0.25)
    raise AssertionError("the generation did not finish")


def test_a_whole_generation_over_real_http(server):
    token = server.token()
    status, models = call("GET", f"{server.url}/api/models/list?action=create")
    assert status == 200 and [m["id"] for m in models["models"]] == ["flux-schnell"]

    status, created = call("POST", f"{server.url}/api/generations/create", SEED_CURL_BODY, token)
    assert status == 201, created
    assert set(created) == {"id", "prediction_id", "status"}

    generation = wait_for(server, token, created["id"])
    assert generation["status"] == "completed", generation
    assert generation["processing_time_ms"] is not None and generation["completed_at"].endswith("Z")
    with urllib.request.urlopen(generation["output_urls"][0], timeout=10) as image:
        assert image.status == 200 and len(image.read()) > 100

    status, page = call("GET", f"{server.url}/api/generations/list?status=completed", token=token)
    assert status == 200 and page["total"] == 1 and page["totalPages"] == 1
    assert page["generations"][0]["id"] == created["id"]

    status, me = call("GET", f"{server.url}/api/me", token=token)
    assert me["user"]["credits"] == 99

    status, deleted = call("DELETE", f"{server.url}/api/generations/{created['id']}", token=token)
    assert (status, deleted) == (200, {"success": True})
    assert call("GET", f"{server.url}/api/generations/{created['id']}", token=token)[0] == 404


def python_with_requests() -> str | None:
    """The first python3 on PATH that can import requests (the system one, not the venv)."""
    seen = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep) + [os.path.dirname(sys.executable)]:
        candidate = shutil.which("python3", path=folder)
        if candidate is None or candidate in seen:
            continue
        seen.add(candidate)
        if subprocess.run([candidate, "-c", "import requests"], capture_output=True).returncode == 0:
            return candidate
    return None


def test_the_seed_python_requests_example(server):
    # The seed's example, verbatim but for the host; a shim adds the bearer token it omits.
    example = textwrap.dedent('''
        import requests

        response = requests.post(
            'http://localhost:3000/api/generations/create',
            json={
                'action': 'create',
                'model_id': 'flux-schnell',
                'prompt': 'A beautiful sunset over mountains',
                'settings': {
                    'aspect_ratio': '16:9',
                    'num_outputs': 1
                }
            }
        )

        data = response.json()
        print(f"Generation ID: {data['id']}")
    ''').replace("http://localhost:3000", server.url)
    shim = textwrap.dedent(f'''
        import functools, requests
        requests.post = functools.partial(
            requests.post, headers={{"Authorization": "Bearer {server.token()}"}}
        )
    ''')
    python = python_with_requests()
    if python is None:
        pytest.skip("no python on PATH has the requests package")
    result = subprocess.run([python, "-c", shim + example], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Generation ID: ")


# The seed's fetch create call and waitForGeneration loop; TypeScript types stripped, fetch
# pointed at the server with the bearer token (the seed relies on a same-origin browser).
JS_PROGRAM = """
const BASE = process.argv[2];
const TOKEN = process.argv[3];
const realFetch = globalThis.fetch;
globalThis.fetch = (path, init = {}) =>
  realFetch(BASE + path, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${TOKEN}` } });

async function waitForGeneration(id, maxAttempts = 60) {
  for (let i = 0; i < maxAttempts; i++) {
    const response = await fetch(`/api/generations/${id}`);
    const generation = await response.json();

    if (generation.status === 'completed') {
      return generation;
    }

    if (generation.status === 'failed') {
      throw new Error(generation.error_message);
    }

    // Ждем 2 секунды перед следующей проверкой
    await new Promise(resolve => setTimeout(resolve, 2000));
  }

  throw new Error('Timeout waiting for generation');
}

(async () => {
  const response = await fetch('/api/generations/create', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({
      action: 'create',
      model_id: 'flux-schnell',
      prompt: 'A serene mountain landscape at sunset',
      settings: {
        aspect_ratio: '16:9',
        num_outputs: 1,
        output_format: 'webp',
        output_quality: 80
      }
    })
  });

  const data = await response.json();
  console.log('Generation ID:', data.id);
  const generationId = data.id;

  const generation = await waitForGeneration(generationId);
  console.log('Output:', generation.output_urls);

  const params = new URLSearchParams({ page: '1', limit: '20', action: 'create' });
  const list = await (await fetch(`/api/generations/list?${params}`)).json();
  console.log(`Всего: ${list.total}`);
  console.log(`Страниц: ${list.totalPages}`);
})().catch((error) => { console.error(error); process.exit(1); });
"""


def test_the_seed_javascript_polling_loop_under_node(server, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "seed.js"
    script.write_text(JS_PROGRAM, encoding="utf-8")
    result = subprocess.run(
        [node, str(script), server.url, server.token()], capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    assert "Generation ID:" in result.stdout
    # output_urls point at the service's stored copies, not at Replicate's short-lived files
    assert "Output: [" in result.stdout and f"{server.url}/outputs/" in result.stdout
    assert "Всего: 1" in result.stdout and "Страниц: 1" in result.stdout


def test_errors_are_problem_json_over_real_http(server):
    status, problem = call("POST", f"{server.url}/api/generations/create", SEED_CURL_BODY)
    assert status == 401 and problem["status"] == 401
    status, problem = call(
        "POST", f"{server.url}/api/generations/create", {**SEED_CURL_BODY, "model_id": "nope"}, server.token()
    )
    assert status == 400 and problem["field"] == "model_id"
