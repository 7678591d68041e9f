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


def wait_completed(exports: list[str], read_line: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        generation = json.loads(run_shell(exports + [read_line]))
        if generation["status"] in ("completed", "failed", "canceled"):
            return generation
        time.sleep(0.3)
    raise AssertionError(f"never finished: {generation}")


def test_demo_prints_working_curl_lines_and_stops_cleanly(tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    process = subprocess.Popen(
        [str(BASE), "demo", "--port", str(free_port())],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = read_instructions(process)
        exports = [line for line in lines if line.startswith("export ")]
        curls = [line for line in lines if line.startswith("curl ")]
        assert [e.split("=")[0] for e in exports] == ["export BASE", "export TOKEN", "export SUPABASE_TOKEN"]
        assert len(curls) == 14
        # The instructions come last: the log goes to a file, not between them.
        assert any("base-demo/base-demo.log" in line for line in lines)

        models = json.loads(run_shell(exports + [curls[0]]))
        assert {m["id"] for m in models["models"]} >= {"flux-schnell"}

        created = json.loads(run_shell(exports + [curls[1]]))
        assert created["status"] in ("pending", "processing", "completed")
        read = [c.replace("<id>", created["id"]) for c in curls]
        generation = wait_completed(exports, read[2])
        assert generation["status"] == "completed", generation
        listed = json.loads(run_shell(exports + [read[3]]))
        assert created["id"] in [g["id"] for g in listed["generations"]]
        assert json.loads(run_shell(exports + [read[4]])) == {"success": True}

        # Edit, upscale and remove the background of the sample image the demo serves.
        for line, action in zip(curls[5:8], ("edit", "upscale", "remove_bg"), strict=True):
            started = json.loads(run_shell(exports + [line]))
            done = wait_completed(exports, curls[2].replace("<id>", started["id"]))
            assert (done["action"], done["status"]) == (action, "completed"), done
            assert "sample.png" in done["input_image_url"]

        # Telegram sign-in with the printed initData, then the session token works.
        signed_in = json.loads(run_shell(exports + [curls[10]]))
        assert signed_in["user"]["telegram_username"] == "base_demo_user"
        me = json.loads(run_shell([f'curl -s "{exports[0].split("=", 1)[1]}/api/me" '
                                   f'-H "Authorization: Bearer {signed_in["session_token"]}"']))
        assert me["user"]["id"] == signed_in["user"]["id"]
        # Supabase sign-in with the printed token.
        assert json.loads(run_shell(exports + [curls[11]]))["user"]["email"] == "demo@base.local"
        # The demo user is an administrator.
        stats = json.loads(run_shell(exports + [curls[12]]))
        assert stats["totals"]["total_tokens"] == 1
        assert json.loads(run_shell(exports + [curls[13]]))["credits"] > 0

        # An edit of the user's own photo: upload it, then upscale it from its url.
        upload = json.loads(run_shell(exports + [curls[8]]))
        assert upload["content_type"] == "image/png" and upload["width"] == 320, upload
        upscaled = json.loads(run_shell(exports + [curls[9].replace("<url>", upload["url"])]))
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
    # Everything the demo wrote is in its one folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base-demo"]
    assert (tmp_path / "base-demo" / "base-demo.db").is_file()
    assert any((tmp_path / "base-demo" / "outputs").rglob("*.*"))
    log = (tmp_path / "base-demo" / "base-demo.log").read_text()
    assert "GET /api/models/list 200" in log
