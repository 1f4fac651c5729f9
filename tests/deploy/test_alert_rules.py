"""The Prometheus alerting rules: well formed, about metrics the code really exports, duty of care paged."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "monitoring" / "vies-alerts.rules.yaml"
SEVERITIES = {"page", "warn"}
# Metric names the platform exports, as the code declares them (prometheus_client objects).
DECLARED = re.compile(r"""(?:Counter|Gauge|Histogram|Summary)\(\s*["'](vies_[a-z_]+)["']""")
USED = re.compile(r"\b(vies_[a-z_]+)\b")


def _rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _exported_metrics() -> set[str]:
    sources = [*(REPO / "shared" / "src").rglob("*.py"), *(REPO / "services").glob("*/src/**/*.py")]
    return {name for path in sources for name in DECLARED.findall(path.read_text())}


def test_every_rule_is_complete_and_named_once() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "an alert name is used twice"
    for rule in rules:
        assert rule["expr"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]


def test_rules_only_use_metrics_the_platform_exports() -> None:
    exported = _exported_metrics()
    assert "vies_outbox_stuck" in exported  # the scan itself finds declarations
    for rule in _rules():
        for name in USED.findall(rule["expr"]):
            base = name.removesuffix("_total")
            assert name in exported or base in exported or f"{base}_total" in exported, (rule["alert"], name)


def test_safety_delivery_problems_page_someone() -> None:
    paged = {name for rule in _rules() if rule["labels"]["severity"] == "page" for name in USED.findall(rule["expr"])}
    assert {
        "vies_notifications_safety_retries_beyond_budget_total",
        "vies_notifications_provider_auth_failures_total",
    } <= paged
