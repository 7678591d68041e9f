"""The files under deploy/ speak of the metrics the service really exports: a renamed
metric fails here, not on a dashboard. promtool checks and unit-tests the alert rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from entrypoints.metrics import Metrics, metric_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "base-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "base-alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "base-alerts.test.yml"
# A metric's name inside PromQL: ours all start with base_.
METRIC = re.compile(r"\bbase_[a-z0-9_]+\b")
EXPORTED = metric_names(Metrics(vitals=None))


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _alert_exprs() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def _names(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC.findall(expr)}


def test_the_dashboard_uses_only_exported_metrics() -> None:
    used = _names(_dashboard_exprs())
    assert used, "the dashboard queries nothing"
    assert used <= EXPORTED, sorted(used - EXPORTED)


def test_the_dashboard_shows_every_metric_family() -> None:
    families = {family.name for family in Metrics(vitals=None).registry.collect()}
    used = _names(_dashboard_exprs())
    shown = {family for family in families if any(name.startswith(family) for name in used)}
    assert shown == families, sorted(families - shown)


def test_the_alert_rules_use_only_exported_metrics_and_cover_what_was_asked() -> None:
    exprs = _alert_exprs()
    assert _names(list(exprs.values())) <= EXPORTED, sorted(_names(list(exprs.values())) - EXPORTED)
    assert set(exprs) == {
        "BaseNoUsableReplicateToken", "BaseGenerationProcessingTooLong", "BaseWebhookRejectionsRising",
        "BaseCreditHoldPendingOverAnHour",
    }
    assert "> 600" in exprs["BaseGenerationProcessingTooLong"]
    assert "> 3600" in exprs["BaseCreditHoldPendingOverAnHour"]


def test_a_renamed_metric_would_be_caught() -> None:
    assert "base_tokens_renamed" not in EXPORTED and _names(['max(base_tokens_renamed)']) - EXPORTED


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("BASE_TEST_REQUIRE_PROMTOOL"):
            pytest.fail("promtool is required (BASE_TEST_REQUIRE_PROMTOOL is set) but not installed")
        pytest.skip("promtool is not installed (Debian package `prometheus`; .ci/run installs it)")
    return found


def test_promtool_checks_the_alert_rules() -> None:
    result = subprocess.run([_promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout


def test_promtool_unit_tests_each_alert_firing() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True, check=False, cwd=ALERT_TESTS.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
