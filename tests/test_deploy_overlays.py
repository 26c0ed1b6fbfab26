"""The generated deploy/k8s: each overlay renders and validates strictly, the pod is hardened, checkov
fails no check, and the prediction record's object-store component is one switch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.bakes import bake
from harness.k8s import (
    ANSWERS,
    EXPECTED,
    KINDS,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    SLUG,
    by_kind,
    kustomize,
    render_overlays,
)
from harness.tools import run, tool


@pytest.fixture(scope="module")
def project(bake_answers) -> Path:
    return bake_answers(ANSWERS)


@pytest.fixture(scope="module")
def rendered(project) -> dict[str, str]:
    return render_overlays(project)


@pytest.fixture(params=OVERLAYS)
def overlay(request) -> str:
    return request.param


@pytest.fixture
def objects(rendered, overlay) -> dict[str, dict]:
    return by_kind(rendered[overlay])


@pytest.fixture
def pod(objects) -> dict:
    return objects["Deployment"]["spec"]["template"]["spec"]


@pytest.fixture
def container(pod) -> dict:
    (container,) = pod["containers"]
    return container


def test_each_overlay_renders_every_object_in_its_namespace_with_standard_labels(objects, overlay):
    namespace = EXPECTED[overlay][0]
    assert sorted(objects) == KINDS
    for kind, document in objects.items():
        labels = document["metadata"]["labels"]
        assert document["metadata"]["namespace"] == namespace, kind
        assert labels["app.kubernetes.io/name"] == SLUG, kind
        assert labels["app.kubernetes.io/part-of"] == SLUG, kind
        assert labels["app.kubernetes.io/managed-by"] == "kustomize", kind


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates_strictly(rendered, overlay, version, tmp_path):
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(rendered[overlay])
    result = run(
        [tool("kubernetes-validate"), "--strict", "--kubernetes-version", version, str(manifest)],
        apart=True,
        timeout=60,
    )
    assert result.returncode == 0, result.output + result.errors
    # An object of unknown kind only earns a warning: count that each one was actually checked.
    assert result.output.count(" passed for resource ") == len(KINDS), result.output + result.errors


def test_strict_validation_rejects_a_misspelt_field(rendered, tmp_path):
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(rendered["staging"].replace("readOnlyRootFilesystem", "readOnlyRootFileSystem"))
    result = run(
        [tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSIONS[0], str(manifest)],
        apart=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "readOnlyRootFileSystem" in result.output + result.errors


def test_pod_runs_as_bentoml_non_root_without_privileges_or_api_token(pod, container, objects):
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 1034, "runAsGroup": 1034, "fsGroup": 1034,
        "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"},
    }  # fmt: skip
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }  # fmt: skip
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False


def test_probes_check_livez_and_readyz_on_3000_with_room_for_a_slow_model_load(container):
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    probes = {name: container[name] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {name: probe["httpGet"]["path"] for name, probe in probes.items()} == {
        "startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz",
    }  # fmt: skip
    assert all(probe["httpGet"]["port"] == "http" for probe in probes.values())
    startup = probes["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def mebibytes(quantity: str) -> int:
    if quantity.endswith("Gi"):
        return int(quantity.removesuffix("Gi")) * 1024
    return int(quantity.removesuffix("Mi"))


def test_resources_give_each_worker_a_whole_core_that_is_not_throttled(container):
    """CPU requested = limited, in whole cores (BentoML starts a worker per core of the limit)."""
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert requests["cpu"] == limits["cpu"]
    assert limits["cpu"].isdigit()
    assert int(limits["cpu"]) >= 2
    # `make load` measured 2 workers and the arbiter at 800-850 MiB resident.
    assert 1024 <= mebibytes(requests["memory"]) <= mebibytes(limits["memory"])


def test_in_flight_requests_finish_before_the_pod_is_killed(pod, container):
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    # preStop sleep plus the service's 10 s request timeout fit in the grace period.
    assert int(sleep[1]) + 10 < pod["terminationGracePeriodSeconds"]


def test_bentoml_writes_only_to_empty_dirs_that_leave_the_bento_visible(pod, container):
    """BentoML 1.4 writes $BENTOML_HOME (stores, prometheus_multiproc_dir) and /tmp (sockets, temp files)."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
    environment = {variable["name"]: variable["value"] for variable in container["env"]}
    assert set(mounts) == {"/tmp", environment["BENTOML_HOME"]}
    assert all("emptyDir" in volumes[name] for name in mounts.values())
    # A volume on /home/bentoml (the image's BENTOML_HOME) would hide the bento in /home/bentoml/bento.
    bento = Path("/home/bentoml/bento")
    assert not any(Path(path) in (bento, *bento.parents) for path in mounts)


def test_overlay_sets_its_image_and_replica_bounds(objects, container, overlay):
    _, image, (low, high) = EXPECTED[overlay]
    assert container["image"] == image
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high)
    # The HPA owns the replica count; a `replicas:` would be reset by every Argo CD sync.
    assert "replicas" not in objects["Deployment"]["spec"]


def test_hpa_scales_the_deployment_on_cpu(objects):
    hpa = objects["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": objects["Deployment"]["metadata"]["name"],
    }  # fmt: skip
    (metric,) = hpa["spec"]["metrics"]
    assert (metric["type"], metric["resource"]["name"], metric["resource"]["target"]["type"]) == (
        "Resource", "cpu", "Utilization",
    )  # fmt: skip


def test_service_pdb_and_network_policy_select_the_pods(objects):
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": objects["Deployment"]["spec"]["selector"]["matchLabels"],
        "Service": objects["Service"]["spec"]["selector"],
        "PodDisruptionBudget": objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        "NetworkPolicy": objects["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector, kind
        assert selector.items() <= pod_labels.items(), kind
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert objects["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


INGRESS_FROM = [
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
]


def test_network_policy_lets_in_port_3000_from_the_ingress_and_monitoring_namespaces_only_and_out_dns_only(
    objects,
):
    spec = objects["NetworkPolicy"]["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 3000}]
    # Namespace selectors only: no podSelector beside them (any pod), no ipBlock, no empty selector.
    assert ingress["from"] == INGRESS_FROM
    (egress,) = spec["egress"]
    assert sorted((port["protocol"], port["port"]) for port in egress["ports"]) == [("TCP", 53), ("UDP", 53)]
    assert egress["to"], "egress must name the DNS pods, not everything on port 53"


def test_the_overlay_chooses_which_namespace_labels_may_call_the_service(project, tmp_path):
    overlay = Path(shutil.copytree(project / "deploy", tmp_path / "deploy")) / "k8s/overlays/production"
    path = overlay / "kustomization.yaml"
    path.write_text(
        path.read_text()
        .replace("kubernetes.io/metadata.name: ingress-nginx", "platform.example.com/role: ingress")
        .replace("kubernetes.io/metadata.name: monitoring", "platform.example.com/role: monitoring")
    )
    (ingress,) = by_kind(kustomize(overlay))["NetworkPolicy"]["spec"]["ingress"]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"platform.example.com/role": "ingress"}}},
        {"namespaceSelector": {"matchLabels": {"platform.example.com/role": "monitoring"}}},
    ]


def test_production_reads_the_api_token_from_a_secret_file_and_staging_needs_none(pod, container, overlay):
    environment = {variable["name"]: variable.get("value") for variable in container["env"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    if overlay == "staging":
        assert "API_TOKEN_FILE" not in environment
        assert "api-token" not in volumes
        return
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "api-token"]
    assert mount["readOnly"] is True
    assert environment["API_TOKEN_FILE"] == f"{mount['mountPath']}/token"
    assert volumes["api-token"]["secret"] == {"secretName": f"{SLUG}-api-token", "defaultMode": 0o440}
    # A file, never an environment variable that `kubectl describe` or a crash dump would show.
    assert not any("valueFrom" in variable for variable in container["env"])


# checkov in its own environment (uv tool run): in the dev environment it would downgrade packaging,
# pytest and python-dateutil and add 76 packages. The range keeps its set of checks stable.
CHECKOV = "checkov>=3.3.30,<3.4"
# The only checks allowed to be skipped, each with its reason in the manifest (a checkov.io/skip
# annotation) and in docs/decisions.md: the bento image runs as its own user, uid 1034 (not >= 10000).
JUSTIFIED_SKIPS = {("CKV_K8S_40", f"Deployment.{SLUG}-{overlay}.{SLUG}") for overlay in OVERLAYS}


def test_checkov_fails_no_check_on_the_rendered_overlays_and_namespaces(project, rendered, tmp_path):
    files = [tmp_path / f"{overlay}.yaml" for overlay in OVERLAYS]
    for path, overlay in zip(files, OVERLAYS, strict=True):
        path.write_text(rendered[overlay])
    files.append(project / "deploy/argocd/namespaces.yaml")
    command = [tool("uv"), "tool", "run", "--from", CHECKOV, "checkov", "--framework", "kubernetes"]
    command += ["--skip-download", "--output", "json", *[f"--file={path}" for path in files]]

    result = run(command, timeout=900, apart=True)

    reports = json.loads(result.output)
    reports = reports if isinstance(reports, list) else [reports]
    results = [check for report in reports for check in report["results"].get("failed_checks", [])]
    assert [(check["check_id"], check["resource"], check["file_path"]) for check in results] == []
    skipped = {
        (c["check_id"], c["resource"]) for report in reports for c in report["results"]["skipped_checks"]
    }
    assert skipped == JUSTIFIED_SKIPS
    # Every object was parsed: per overlay its six and the Deployment's pod (checked as a Pod), and the
    # two namespaces; no parsing error.
    summary = [report["summary"] for report in reports]
    assert sum(part["resource_count"] for part in summary) == len(OVERLAYS) * (len(KINDS) + 1) + 2, summary
    assert sum(part["parsing_errors"] for part in summary) == 0, summary
    assert sum(part["passed"] for part in summary) >= 150, summary
    assert result.returncode == 0, result.errors[-2000:]


# --- the prediction record's object-store component -------------------------------------------------

RECORD_CLOUDS = {  # dvc_remote -> (URL the record goes to, ServiceAccount annotation, GKE metadata egress)
    "none": (f"s3://{SLUG}-dvc/records", "eks.amazonaws.com/role-arn", False),
    "gcs": (f"gs://{SLUG}-dvc/records", "iam.gke.io/gcp-service-account", True),
    "azure": (f"az://{SLUG}-dvc/records", "azure.workload.identity/client-id", False),
}


def test_without_the_component_the_pod_records_nothing_and_reaches_only_dns(container):
    assert {"name": "PREDICTION_RECORD", "value": "off"} in container["env"]


@pytest.mark.parametrize("remote", list(RECORD_CLOUDS))
def test_the_record_component_gives_the_bucket_egress_and_an_identity_and_validates(remote, tmp_path):
    """Uncommenting the component in an overlay (as deploy/README.md says) is the one switch: the record
    goes to the DVC remote's bucket, the pod may reach HTTPS outside the cluster, the ServiceAccount
    carries the cloud's workload identity, and the result validates strictly."""
    url, annotation, metadata_server = RECORD_CLOUDS[remote]
    project = bake(tmp_path, **ANSWERS, dvc_remote=remote)
    overlay = project / "deploy/k8s/overlays/staging/kustomization.yaml"
    text = overlay.read_text()
    assert "# components:\n#   - ../../components/record-object-store\n" in text
    overlay.write_text(text.replace("# components:\n#   - ../../", "components:\n  - ../../"))
    rendered = kustomize(overlay.parent)
    objects = by_kind(rendered)
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert [e["value"] for e in container["env"] if e["name"] == "PREDICTION_RECORD"] == [url]
    assert annotation in objects["ServiceAccount"]["metadata"]["annotations"]
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False
    egress = objects["NetworkPolicy"]["spec"]["egress"]
    https = [rule for rule in egress if {"protocol": "TCP", "port": 443} in rule["ports"]]
    assert len(https) == 1
    assert "10.0.0.0/8" in https[0]["to"][0]["ipBlock"]["except"]
    assert any({"protocol": "TCP", "port": 988} in rule["ports"] for rule in egress) == metadata_server
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert (labels.get("azure.workload.identity/use") == "true") == (remote == "azure")
    manifest = tmp_path / "record.yaml"
    manifest.write_text(rendered)
    result = run([tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSIONS[0],
                 str(manifest)], apart=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.output + result.errors
    assert result.output.count(" passed for resource ") == len(KINDS), result.output + result.errors
