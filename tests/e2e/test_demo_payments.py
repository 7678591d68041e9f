"""`base demo`: the demo user buys a pack with Stripe and with Stars, offline, by the printed lines."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
from e2e_helpers import BASE, child_env, free_port, stop
from test_demo import run_shell

pytestmark = pytest.mark.slow
LAST = 'curl -s "$BASE/api/credits/history"'


def read_until(process: subprocess.Popen[str], prefix: str, timeout: float = 60.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the demo exited early: {''.join(lines)}")
        lines.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return lines
    raise AssertionError("the demo printed no payment instructions")


def test_the_demo_user_buys_credits_with_stripe_and_with_stars(tmp_path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    process = subprocess.Popen(
        [str(BASE), "demo", "--db", str(tmp_path / "base-demo.db"), "--port", str(free_port())],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        lines = read_until(process, LAST)
        exports = [line for line in lines if line.startswith("export ")]
        names = [e.split("=")[0] for e in exports]
        assert names[:2] == ["export BASE", "export TOKEN"] and names[-1] == "export PAY", names
        start = lines.index("Buy credits (payments simulated locally, nothing is charged):")
        packs, buy_stripe, pay_stripe, buy_stars, pay_stars, history = [
            line for line in lines[start:] if line.startswith("curl ")
        ]
        assert json.loads(run_shell(exports + [packs]))["packs"][0]["stars"] == 50

        stripe = json.loads(run_shell(exports + [buy_stripe]))
        assert stripe["status"] == "pending"
        run_shell(exports + [pay_stripe.replace("<checkout_url>", stripe["checkout_url"])])
        stars = json.loads(run_shell(exports + [buy_stars]))
        paid = json.loads(run_shell(exports + [pay_stars.replace("<invoice_link>", stars["invoice_link"])]))
        assert paid["paid"] is True, paid

        entries = json.loads(run_shell(exports + [history]))["entries"]
        assert [e["kind"] for e in entries] == ["purchase", "purchase", "initial_grant"]
        me = json.loads(run_shell(exports + ['curl -s "$BASE/api/me" -H "Authorization: Bearer $TOKEN"']))
        assert me["user"]["credits"] == 300
    finally:
        code = stop(process)
    assert code == 0
