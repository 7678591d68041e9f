"""TypeScript types from the OpenAPI document (openapi-typescript) compile against the
seed's client calls (`typescript/seed.ts`, `tsc --noEmit`), and stop compiling when the
document says something false (a plain string where the action enum belongs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "typescript"
BIN = HERE / "node_modules" / ".bin"


def document() -> dict:
    from litestar.serialization import encode_json

    from entrypoints.http import create_app

    app = create_app(lambda: None)  # type: ignore[arg-type,return-value]  # never started
    return json.loads(encode_json(app.openapi_schema.to_schema()))


def compile_against(doc: dict, workdir: Path) -> subprocess.CompletedProcess[str]:
    for name in ("seed.ts", "tsconfig.json"):
        shutil.copy(HERE / name, workdir / name)
    (workdir / "openapi.json").write_text(json.dumps(doc))
    generated = subprocess.run(
        [str(BIN / "openapi-typescript"), str(workdir / "openapi.json"), "-o", str(workdir / "api.d.ts")],
        capture_output=True, text=True, timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    return subprocess.run([str(BIN / "tsc"), "-p", str(workdir)], capture_output=True, text=True, timeout=180)


@pytest.fixture
def tools() -> None:
    if shutil.which("node") is None or not (BIN / "tsc").exists() or not (BIN / "openapi-typescript").exists():
        reason = f"node and `npm ci` in {HERE} are needed"
        if os.environ.get("BASE_TEST_REQUIRE_NODE") == "1":
            pytest.fail(f"BASE_TEST_REQUIRE_NODE=1 but {reason}")
        pytest.skip(reason)


def test_the_seed_calls_compile_against_the_generated_types(tools, tmp_path):
    done = compile_against(document(), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_false_document_does_not_compile(tools, tmp_path):
    doc = document()
    doc["components"]["schemas"]["CreateGenerationIn"]["properties"]["action"] = {"type": "string"}
    done = compile_against(doc, tmp_path)
    assert done.returncode != 0
    assert "Unused '@ts-expect-error' directive" in done.stdout
