"""deploy/monitoring: a ServiceMonitor per service on its ops port, a PrometheusRule with the
alerts a pager needs, and a Grafana dashboard, all on metric names the code really exports."""

import json
import re
from pathlib import Path

import pytest
import yaml
from k8s_render import MONITORING, ROOT, SERVICES, by_kind, render

# prometheus_client metrics as the code declares them: Counter("name", ...), Histogram(...).
DECLARATION = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|MetricCounter)\(\s*\"([a-z_:][a-z0-9_:]*)\""
)
# Series Prometheus itself adds for every target.
PROMETHEUS_SERIES = {"up"}
# What an alert on each concern must use.
CONCERNS = {
    "outbox lag": "parley_outbox_delay_seconds_bucket",
    "consumer lag": "parley_search_last_event_age_seconds",
    "dead-letter growth": "parley_search_dead_letters_total",
    "5xx ratio": "parley_http_requests_total",
    "p99 latency": "parley_http_request_seconds_bucket",
    "service down": "up",
    "Kafka down": "parley_outbox_publish_failures_total",
    "Redis down": "parley_redis_failures_total",
    "search engine down": "parley_search_batch_failures_total",
    "a readiness dependency (MongoDB, Redis, search engine) down": "parley_dependency_ready",
}


def exported_series() -> set[str]:
    """Every series name the services expose, from the declarations in the code."""
    series = set()
    for source in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        for kind, name in DECLARATION.findall(source.read_text()):
            if kind in {"Counter", "MetricCounter"}:
                series.add(name if name.endswith("_total") else f"{name}_total")
            elif kind in {"Histogram", "Summary"}:
                series |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            else:
                series.add(name)
    return series


def series_in(expression: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names inside braces or by/without lists."""
    without_labels = re.sub(r"\{[^}]*\}", "", expression)
    without_groupings = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_labels
    )
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_groupings)
    words = {"and", "or", "unless", "bool", "offset"}
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges):
        function = without_ranges[match.end() :].lstrip().startswith("(")
        if not function and match.group() not in words:
            names.add(match.group())
    return names


def alert_rules() -> list[dict]:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def dashboard() -> dict:
    loaded: dict = json.loads((MONITORING / "parley-dashboard.json").read_text())
    return loaded


def dashboard_expressions() -> list[str]:
    return [t["expr"] for panel in dashboard()["panels"] for t in panel["targets"]]


def test_the_series_parser_finds_names_and_skips_functions_and_labels() -> None:
    expression = (
        "histogram_quantile(0.99, sum by (service, le) (rate(parley_http_request_seconds_bucket"
        '{status=~"5.."}[5m]))) > 1 and up{job="x"} == 0'
    )
    assert series_in(expression) == {"parley_http_request_seconds_bucket", "up"}


def test_every_alert_and_panel_uses_series_the_code_exports() -> None:
    exported = exported_series() | PROMETHEUS_SERIES
    assert "parley_http_requests_total" in exported  # the scan works: it can fail
    for rule in alert_rules():
        unknown = series_in(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']}: {unknown}"
        assert series_in(rule["expr"]), rule["alert"]
    for expression in dashboard_expressions():
        assert not series_in(expression) - exported, expression


def test_a_misspelt_series_is_caught() -> None:
    exported = exported_series()
    assert series_in("rate(parley_outbox_publish_failure_total[5m]) > 0") - exported == {
        "parley_outbox_publish_failure_total"
    }


def test_the_alerts_cover_what_a_pager_needs() -> None:
    rules = alert_rules()
    for concern, series in CONCERNS.items():
        covering = [r for r in rules if series in series_in(r["expr"])]
        assert covering, concern
        for rule in covering:
            assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
    assert len({r["alert"] for r in rules}) == len(rules)


def test_the_dashboard_shows_every_alerted_series() -> None:
    board = dashboard()
    assert board["uid"] == "parley-overview"
    shown = set().union(*(series_in(e) for e in dashboard_expressions()))
    alerted = set().union(*(series_in(r["expr"]) for r in alert_rules()))
    assert alerted <= shown
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))


def test_prod_scrapes_every_service_on_its_ops_port() -> None:
    objects = render("prod")
    monitors = by_kind(objects, "ServiceMonitor")
    services = by_kind(objects, "Service")
    assert set(monitors) == {f"parley-{s}" for s in SERVICES}
    for name, monitor in monitors.items():
        selector = monitor["spec"]["selector"]["matchLabels"]
        targets = [
            s
            for s in services.values()
            if selector.items() <= s["metadata"].get("labels", {}).items()
        ]
        assert [t["metadata"]["name"] for t in targets] == [name]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {p["name"] for p in targets[0]["spec"]["ports"]}
        assert endpoint["port"] == "ops"
        assert monitor["metadata"]["namespace"] == "parley"
    dashboard_map = by_kind(objects, "ConfigMap")["parley-grafana-dashboard"]
    assert dashboard_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard_map["data"]["parley-dashboard.json"]) == dashboard()
    assert by_kind(objects, "PrometheusRule")["parley"]["metadata"]["namespace"] == "parley"


@pytest.mark.parametrize("path", sorted(Path(MONITORING).glob("*.yaml")))
def test_monitoring_files_are_yaml_documents(path: Path) -> None:
    assert all(doc for doc in yaml.safe_load_all(path.read_text()))
