"""deploy/monitoring of a default bake: promtool checks and unit-tests every alert; a real Prometheus on
127.0.0.1 scrapes the real service, and its feature-shift and prediction-mix alerts fire on shifted traffic
and stay silent on traffic like the held-out data. Prometheus and the service are started here and stopped
by process group."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.bakes import first_record
from harness.processes import answers_ok, free_port, post_json, serving, started
from harness.tools import tool

UNIT_TESTS = Path(__file__).parent / "monitoring" / "alerts_test.yaml"
JOB = "my-ml-project"  # the default bake's slug: the job the rules select
PROMETHEUS = "Debian package prometheus; make system-tools installs it"
SHIFT_ALERTS = ("ModelFeatureShifted", "ModelPredictionMixShifted")
# How the last minute's scrapes went: how many, how many succeeded, the slowest.
SCRAPE_HEALTH = (
    "count_over_time(up[1m])",
    "sum_over_time(up[1m])",
    "max_over_time(scrape_duration_seconds[1m])",
)


def rule_groups(project: Path) -> dict:
    """The PrometheusRule's groups as a plain rules file (what promtool and Prometheus read)."""
    rule = yaml.safe_load((project / "deploy/monitoring/prometheusrule.yaml").read_text())
    return rule["spec"]


def alerts(groups: dict) -> dict[str, dict]:
    return {rule["alert"]: rule for group in groups["groups"] for rule in group["rules"] if "alert" in rule}


def test_rules_pass_promtool_check(baked, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rule_groups(baked("default"))))
    result = subprocess.run(
        [tool("promtool", PROMETHEUS), "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 19 rules found" in result.stdout


def test_every_alert_fires_and_stays_silent_in_promtool_unit_tests(baked, tmp_path):
    """alerts_test.yaml has, per alert, a namespace where it must fire and one where it must not."""
    groups = rule_groups(baked("default"))
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups))
    cases = yaml.safe_load(UNIT_TESTS.read_text())
    tested = set()
    for case in (case for test in cases["tests"] for case in test.get("alert_rule_test", [])):
        tested.add(case["alertname"])
        for expected in case["exp_alerts"]:  # annotations as the rule file has them, not a copy
            expected["exp_annotations"] = alerts(groups)[case["alertname"]]["annotations"]
    assert tested == set(alerts(groups)), "every alert has a unit test"
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(cases))
    result = subprocess.run(
        [tool("promtool", PROMETHEUS), "test", "rules", "alerts_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_monitoring_kustomization_renders_the_monitor_the_rule_and_the_dashboard(baked):
    project = baked("default")
    command = [tool("kubectl"), "kustomize", str(project / "deploy/monitoring")]
    rendered = subprocess.run(command, capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    objects = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered.stdout)}
    assert set(objects) == {"ServiceMonitor", "PrometheusRule", "ConfigMap"}
    assert objects["ServiceMonitor"]["spec"]["namespaceSelector"]["matchNames"] == [
        f"{JOB}-staging", f"{JOB}-production",
    ]  # fmt: skip
    dashboard = json.loads(objects["ConfigMap"]["data"]["dashboard.json"])
    assert objects["ConfigMap"]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert len(dashboard["panels"]) >= 12


# ---------------------------------------------------------------------------------------------------------
# A real Prometheus scraping the real service


def short_windows(groups: dict, window: str = "20s", hold: str = "5s") -> dict:
    """The rules with every range below a day shortened to `window` and every `for:` to `hold`."""
    text = re.sub(r"\[(\d+)m\]", f"[{window}]", yaml.safe_dump(groups))
    shortened = yaml.safe_load(text)
    for rule in alerts(shortened).values():
        rule["for"] = hold
    return shortened


def get_json(url: str, timeout: float = 10) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


@contextlib.contextmanager
def prometheus(folder: Path, target: str, rules: dict) -> Iterator[str]:
    """Prometheus on a free loopback port scraping `target` every second, evaluating `rules` every second."""
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [
            {"job_name": JOB, "static_configs": [{"targets": [target], "labels": {"namespace": "test"}}]}
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        tool("prometheus", PROMETHEUS), f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
    ]  # fmt: skip
    log = folder / "prometheus.log"
    with started("prometheus", command, log, answers_ok(f"{base}/-/ready"), cwd=folder, ready_within=30):
        yield base


def query(base: str, expr: str) -> list[dict]:
    """An instant query; fails the test on an error (a bad expression, a bad label match)."""
    answer = get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def scrapes(base: str) -> str:
    """How Prometheus's scrapes of the service went in the last minute, and the series the rules read."""
    health = {check: [s["value"][1] for s in query(base, check)] for check in SCRAPE_HEALTH}
    raw = {name: query(base, name) for name in ("model_predictions_total", "model_batch_records_sum")}
    return f"scrapes: {health}; series: {raw}"


def answered(base: str, expr: str, within: float = 30) -> list[dict]:
    """`expr`'s result once it is not empty; fails after `within` seconds, saying how the scrapes went.

    A rule over a 20 s window is empty while fewer than two scrapes of it succeeded in that window, as
    happens when a loaded machine answers /metrics slower than the 1 s scrape timeout.
    """
    deadline = time.monotonic() + within
    while not (result := query(base, expr)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{expr} returned nothing for {within} s; {scrapes(base)}")
        time.sleep(1)
    return result


def firing(base: str) -> set[tuple[str, str]]:
    """(alert, feature) of every firing alert."""
    return {
        (alert["labels"]["alertname"], alert["labels"].get("feature", ""))
        for alert in get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
        if alert["state"] == "firing"
    }


def send(base: str, bodies: list[list[dict]], seconds: float) -> None:
    """POST the bodies round-robin from 4 threads for `seconds`; every one must be answered 200."""

    def worker(start: int) -> None:
        index, stop = start, time.monotonic() + seconds
        while time.monotonic() < stop:
            status, answer = post_json(f"{base}/predict", {"records": bodies[index % len(bodies)]})
            assert status == 200, answer
            index += 4

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(worker, start) for start in range(4)]:
            future.result()


def held_out(project: Path) -> list[dict]:
    import csv

    with (project / "data/prepared/test.csv").open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if k != "target"} for row in csv.DictReader(handle)]


def dashboard_queries(project: Path) -> list[str]:
    dashboard = json.loads((project / "deploy/monitoring/dashboard.json").read_text())
    return [
        target["expr"].replace("$namespace", "test").replace("$__rate_interval", "20s")
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def families(text: str) -> set[str]:
    """Metric names in a /metrics exposition, with and without the _total/_bucket/... suffixes."""
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"}
    return names | {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in names}


@pytest.mark.lifecycle
def test_real_prometheus_fires_the_shift_alerts_on_shifted_traffic_only(trained_bake, shared_env, tmp_path):
    project = trained_bake("default")
    rules = short_windows(rule_groups(project))
    records = held_out(project)
    profile = json.loads((project / "models/profile.json").read_text())
    shifted_feature = "mean_radius"
    high = profile["numeric"][shifted_feature]["edges"][-1] * 1.1  # above the top decile, within the schema
    env = {**shared_env, "MODEL_METRICS_FLUSH_S": "0.5", "SERVICE_WORKERS": "2"}
    began = time.monotonic()
    with serving(project, env=env) as base, prometheus(tmp_path, base.removeprefix("http://"), rules) as prom:
        # Normal traffic: the held-out rows, one per request and in batches of 10, and a few refused ones.
        send(base, [[record] for record in records] + [records[i : i + 10] for i in range(0, 110, 10)], 25)
        bad = {**first_record(project, "target"), shifted_feature: -1.0}
        assert post_json(f"{base}/predict", {"records": [bad]})[0] == 400
        time.sleep(3)
        assert not {name for name, _ in firing(prom)} & set(SHIFT_ALERTS), firing(prom)
        exported = families(urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode())
        recorded = [rule.get("record") for group in rules["groups"] for rule in group["rules"]]
        for name in filter(None, recorded):
            answered(prom, name)
        for rule in alerts(rules).values():
            query(prom, rule["expr"])  # evaluates without error (empty while it does not fire)
        for expr in dashboard_queries(project):
            names = set(re.findall(r"\b(model_[a-z_]+|prediction_[a-z_]+|bentoml_[a-z_]+)\b", expr))
            if names <= exported:  # the bake exports every family it reads (not: categories, regression)
                answered(prom, expr)
            else:
                query(prom, expr)  # evaluates without error

        # Shifted: mean_radius above its training deciles, and only the rows the model calls benign ("1").
        moved = [{**record, shifted_feature: high} for record in records]
        status, answer = post_json(f"{base}/predict", {"records": moved})
        assert status == 200, answer
        benign = [record for record, label in zip(moved, answer["predictions"], strict=True) if label == 1]
        assert len(benign) >= 10, "too few rows stay benign with the shifted feature"
        deadline = time.monotonic() + 90
        while not {(alert, feature) for alert, feature in firing(prom)} >= {
            ("ModelFeatureShifted", shifted_feature), ("ModelPredictionMixShifted", ""),
        }:  # fmt: skip
            assert time.monotonic() < deadline, (
                f"the shift alerts did not fire within 90 s: {firing(prom)}; {scrapes(prom)}"
            )
            send(base, [[record] for record in benign], 3)
        shifted = {feature for alert, feature in firing(prom) if alert == "ModelFeatureShifted"}
    print(f"real Prometheus test: {time.monotonic() - began:.0f} s; features shifted: {sorted(shifted)}")
