"""`base demo` as a real process: it prints a token and curl lines that work, and stops on Ctrl-C."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
from e2e_helpers import BASE, child_env, free_port, stop

pytestmark = pytest.mark.slow


def read_instructions(process: subprocess.Popen[str], timeout: float = 60.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the demo exited early: {''.join(lines)}")
        lines.append(line.rstrip("\n"))
        if line.startswith("OpenAPI:"):
            return lines
    raise AssertionError("the demo printed no instructions")


def run_shell(lines: list[str]) -> str:
    result = subprocess.run(["bash", "-c", "\n".join(lines)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_prints_working_curl_lines_and_stops_cleanly(tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    process = subprocess.Popen(
        [str(BASE), "demo", "--db", str(tmp_path / "base-demo.db"), "--port", str(free_port())],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        lines = read_instructions(process)
        exports = [line for line in lines if line.startswith("export ")]
        curls = [line for line in lines if line.startswith("curl ")]
        assert [e.split("=")[0] for e in exports] == ["export BASE", "export TOKEN"]
        assert len(curls) == 7

        models = json.loads(run_shell(exports + [curls[0]]))
        assert {m["id"] for m in models["models"]} >= {"flux-schnell"}

        created = json.loads(run_shell(exports + [curls[1]]))
        assert created["status"] in ("pending", "processing", "completed")
        read = [c.replace("<id>", created["id"]) for c in curls]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            generation = json.loads(run_shell(exports + [read[2]]))
            if generation["status"] == "completed":
                break
            time.sleep(0.3)
        assert generation["status"] == "completed", generation
        listed = json.loads(run_shell(exports + [read[3]]))
        assert created["id"] in [g["id"] for g in listed["generations"]]
        assert json.loads(run_shell(exports + [read[4]])) == {"success": True}

        # An edit of the user's own photo: upload it, then upscale it from its url.
        upload = json.loads(run_shell(exports + [curls[5]]))
        assert upload["content_type"] == "image/png" and upload["width"] == 320, upload
        upscaled = json.loads(run_shell(exports + [curls[6].replace("<url>", upload["url"])]))
        assert upscaled["status"] in ("pending", "processing", "completed"), upscaled
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            generation = json.loads(run_shell(exports + [curls[2].replace("<id>", upscaled["id"])]))
            if generation["status"] in ("completed", "failed"):
                break
            time.sleep(0.3)
        assert generation["status"] == "completed", generation
        assert generation["input_image_url"] == upload["url"]
        assert generation["output_urls"][0].startswith(upload["url"].split("/outputs/")[0] + "/outputs/")
    finally:
        code = stop(process)
    remaining = process.stdout.read() if process.stdout else ""
    assert code == 0
    assert "demo stopped" in remaining
