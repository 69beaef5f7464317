"""The optional Prometheus rules (deploy/k8s/optional/prometheus/alerts.yaml):
every expression parses as PromQL, names only metrics the binary exports
(docs/operations.md lists them, and the Rust tests keep that list complete),
and says what it is about."""

from __future__ import annotations

import re

import promql_parser
import pytest

from conftest import K8S, REPO, load_yaml_documents

ALERTS = K8S / "optional" / "prometheus" / "alerts.yaml"
GUIDE = REPO / "docs" / "operations.md"


def rules() -> list[dict]:
    (rule_object,) = load_yaml_documents(ALERTS)
    return [rule for group in rule_object["spec"]["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_expression_parses_and_names_exported_metrics(rule):
    expression = rule["expr"]
    try:
        promql_parser.parse(expression)
    except Exception as error:  # the parser raises a bare Exception subclass
        pytest.fail(f"{rule['alert']}: not PromQL: {error}\n{expression}")
    guide = GUIDE.read_text(encoding="utf-8")
    names = re.findall(r"\bclicktail_[a-z_]+", expression)
    assert names, f"{rule['alert']}: names no clicktail metric"
    for name in names:
        # A histogram's series carry suffixes its documented name does not.
        base = name if f"`{name}`" in guide else re.sub(r"_(bucket|sum|count)$", "", name)
        assert f"`{base}`" in guide, f"{rule['alert']}: {name} is not a documented metric"


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_alert_is_named_timed_and_explained(rule):
    assert re.fullmatch(r"Clicktail[A-Z][A-Za-z]+", rule["alert"])
    assert re.fullmatch(r"[0-9]+[smh]", rule["for"]), f"{rule['alert']}: for {rule['for']!r}"
    assert rule["labels"]["severity"] in {"warning", "critical"}
    summary = rule["annotations"]["summary"]
    assert summary
    if "$labels.pod" in summary:
        # Aggregations drop labels: the pod must survive every one.
        expression = rule["expr"]
        assert "sum(" not in expression.replace(" ", ""), f"{rule['alert']}: sums away the pod its summary names"
        for grouping in re.findall(r"by \(([^)]*)\)", expression):
            assert "pod" in grouping, f"{rule['alert']}: groups by ({grouping}), the summary names the pod"


def test_alert_names_are_unique_and_in_the_guide():
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    guide = GUIDE.read_text(encoding="utf-8")
    assert "deploy/k8s/optional/prometheus" in guide
    for name in names:
        assert f"`{name}`" in guide, f"{name} is not in the guide's table of alerts"
