"""The generated deploy/: overlays render and validate strictly, the pod is hardened, the Argo CD
Applications match their schema and their overlays, and set_image.py moves an image and nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support import bake

ANSWERS = {"deploy": "kubernetes", "project_name": "Fraud Scorer", "github_owner": "Acme-ML"}
SLUG = "fraud-scorer"
IMAGE = "ghcr.io/acme-ml/fraud-scorer"  # lowercased owner: registries refuse uppercase repository names
OVERLAYS = ("staging", "production")
# Per overlay: namespace, image reference, HPA (min, max). The image values are the shipped placeholders.
EXPECTED = {
    "staging": (f"{SLUG}-staging", f"{IMAGE}@sha256:{'0' * 64}", (1, 2)),
    "production": (f"{SLUG}-production", f"{IMAGE}@sha256:{'0' * 64}", (3, 10)),
}
KINDS = ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Service",
         "ServiceAccount"]  # fmt: skip
# The oldest Kubernetes release the manifests must run on, and a current one.
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")
APPLICATION_SCHEMA = Path(__file__).parent / "schemas" / "argocd-application.json"
BIN = Path(sys.executable).parent
DIGEST = "sha256:" + "ab" * 32


def tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def kubectl() -> str:
    """kubectl, or a skip on a workstation without it (in CI its absence is a failure)."""
    found = shutil.which("kubectl")
    if found is None and not os.environ.get("CI"):
        pytest.skip("kubectl is not installed")
    return found or "kubectl"


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=60)


def kustomize(overlay_dir: Path) -> str:
    result = run(kubectl(), "kustomize", str(overlay_dir))
    assert result.returncode == 0, result.stderr
    return result.stdout


def by_kind(text: str) -> dict[str, dict]:
    documents = [document for document in yaml.safe_load_all(text) if document]
    objects = {document["kind"]: document for document in documents}
    assert len(objects) == len(documents), "one object of each kind expected"
    return objects


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("deploy"), **ANSWERS)


@pytest.fixture(scope="module")
def rendered(project) -> dict[str, str]:
    return {overlay: kustomize(project / "deploy/k8s/overlays" / overlay) for overlay in OVERLAYS}


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


# --- the rendered overlays ---------------------------------------------------------------------------


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
    result = run(tool("kubernetes-validate"), "--strict", "--kubernetes-version", version, str(manifest))
    assert result.returncode == 0, result.stdout + result.stderr
    # An object of unknown kind only earns a warning: count that each one was actually checked.
    assert result.stdout.count(" passed for resource ") == len(KINDS), result.stdout + result.stderr


def test_strict_validation_rejects_a_misspelt_field(rendered, tmp_path):
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(rendered["staging"].replace("readOnlyRootFilesystem", "readOnlyRootFileSystem"))
    result = run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSIONS[0], str(manifest))
    assert result.returncode != 0
    assert "readOnlyRootFileSystem" in result.stdout + result.stderr


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


# --- the Argo CD Applications ------------------------------------------------------------------------


def test_argocd_applications_match_the_vendored_schema(project):
    applications = [str(project / "deploy/argocd" / name) for name in ("production.yaml", "staging.yaml")]
    assert sorted(path.name for path in (project / "deploy/argocd").glob("*.yaml")) == [
        "namespaces.yaml", "production.yaml", "project.yaml", "staging.yaml",
    ]  # fmt: skip
    result = run(tool("check-jsonschema"), "--schemafile", str(APPLICATION_SCHEMA), *applications)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        (("spec", "syncPolicy", "automated"), "selfheal", True),  # misspelt selfHeal
        (("spec", "source"), "targetRevison", "main"),  # misspelt targetRevision
        (("spec", "destination"), "name", "in-cluster"),  # server and name together
        (("spec", "syncPolicy"), "syncOptions", ["CreateNamespaces=true"]),
    ],
    ids=["misspelt-selfHeal", "misspelt-targetRevision", "server-and-name", "unknown-sync-option"],
)
def test_the_schema_rejects_a_broken_application(project, tmp_path, where, key, value):
    application = yaml.safe_load((project / "deploy/argocd/staging.yaml").read_text())
    node = application
    for step in where:
        node = node[step]
    node[key] = value
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(application))
    result = run(tool("check-jsonschema"), "--schemafile", str(APPLICATION_SCHEMA), str(broken))
    assert result.returncode != 0, result.stdout


def test_each_application_syncs_its_overlay_into_its_namespace(project, overlay):
    application = yaml.safe_load((project / f"deploy/argocd/{overlay}.yaml").read_text())
    kustomization = yaml.safe_load(
        (project / f"deploy/k8s/overlays/{overlay}/kustomization.yaml").read_text()
    )
    spec = application["spec"]
    assert (application["metadata"]["name"], application["metadata"]["namespace"]) == (
        f"{SLUG}-{overlay}", "argocd",
    )  # fmt: skip
    assert spec["source"] == {
        "repoURL": f"https://github.com/Acme-ML/{SLUG}.git",
        "path": f"deploy/k8s/overlays/{overlay}",
        "targetRevision": {"staging": "deploy/staging", "production": "main"}[overlay],
    }
    assert (project / spec["source"]["path"] / "kustomization.yaml").is_file()
    assert spec["destination"] == {
        "server": "https://kubernetes.default.svc",
        "namespace": EXPECTED[overlay][0],
    }
    assert kustomization["namespace"] == spec["destination"]["namespace"]
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    # The namespace comes from namespaces.yaml: the project allows Argo CD no cluster-scoped kind.
    assert "CreateNamespace=true" not in spec["syncPolicy"].get("syncOptions", [])
    assert spec["project"] == SLUG


APPPROJECT_SCHEMA = Path(__file__).parent / "schemas" / "argocd-appproject.json"
GITHUB_ACTIONS_APP_ID = 15368  # the GitHub Actions integration: what pushes with a workflow's GITHUB_TOKEN


def group_kind(document: dict) -> tuple[str, str]:
    api_version = document["apiVersion"]
    return (api_version.split("/")[0] if "/" in api_version else "", document["kind"])


def test_the_app_project_matches_its_schema_and_a_misspelt_field_fails(project, tmp_path):
    path = project / "deploy/argocd/project.yaml"
    result = run(tool("check-jsonschema"), "--schemafile", str(APPPROJECT_SCHEMA), str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(path.read_text().replace("namespaceResourceWhitelist", "namespaceResourceWhiteList"))
    result = run(tool("check-jsonschema"), "--schemafile", str(APPPROJECT_SCHEMA), str(broken))
    assert result.returncode != 0, result.stdout


def test_the_app_project_allows_this_repository_its_two_namespaces_and_exactly_the_rendered_kinds(
    project, rendered
):
    """Not `default` (any source, destination and kind): both Applications use a project that allows
    their own repository, their own namespaces, the kinds the overlays render and no cluster-scoped kind."""
    app_project = yaml.safe_load((project / "deploy/argocd/project.yaml").read_text())
    applications = [yaml.safe_load((project / f"deploy/argocd/{name}.yaml").read_text()) for name in OVERLAYS]
    spec = app_project["spec"]
    assert app_project["metadata"] == {
        "name": SLUG, "namespace": "argocd", "labels": {"app.kubernetes.io/part-of": SLUG},
    }  # fmt: skip
    assert {application["spec"]["project"] for application in applications} == {SLUG}
    assert spec["sourceRepos"] == [f"https://github.com/Acme-ML/{SLUG}.git"]
    assert {application["spec"]["source"]["repoURL"] for application in applications} == set(
        spec["sourceRepos"]
    )
    assert spec["destinations"] == [application["spec"]["destination"] for application in applications]
    assert spec["clusterResourceWhitelist"] == []
    rendered_kinds = {
        group_kind(document)
        for text in rendered.values()
        for document in yaml.safe_load_all(text)
        if document
    }
    allowed = [(entry["group"], entry["kind"]) for entry in spec["namespaceResourceWhitelist"]]
    assert len(allowed) == len(set(allowed))
    assert set(allowed) == rendered_kinds
    assert "*" not in {kind for _, kind in allowed} | {group for group, _ in allowed}


def test_the_namespaces_validate_strictly_and_enforce_the_restricted_pod_security_profile(project, tmp_path):
    path = project / "deploy/argocd/namespaces.yaml"
    namespaces = [document for document in yaml.safe_load_all(path.read_text()) if document]
    assert [namespace["metadata"]["name"] for namespace in namespaces] == [EXPECTED[o][0] for o in OVERLAYS]
    for namespace in namespaces:
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    result = run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSIONS[0], str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(OVERLAYS), result.stdout


def test_only_the_workflows_may_change_the_deploy_staging_branch(project):
    """Branch deploy/staging (what Argo CD syncs to staging) cannot be created, pushed, force-pushed or
    deleted by anyone but the GitHub Actions app (a workflow's GITHUB_TOKEN)."""
    ruleset = json.loads((project / ".github/rulesets/deploy-staging.json").read_text())
    application = yaml.safe_load((project / "deploy/argocd/staging.yaml").read_text())
    assert ruleset["target"] == "branch"
    assert ruleset["enforcement"] == "active"
    assert ruleset["conditions"]["ref_name"]["include"] == [
        f"refs/heads/{application['spec']['source']['targetRevision']}"
    ]
    assert sorted(rule["type"] for rule in ruleset["rules"]) == [
        "creation", "deletion", "non_fast_forward", "update",
    ]  # fmt: skip
    assert ruleset["bypass_actors"] == [
        {"actor_id": GITHUB_ACTIONS_APP_ID, "actor_type": "Integration", "bypass_mode": "always"}
    ]


def test_deploy_staging_moves_the_overlay_to_the_pushed_digest_on_the_protected_branch(project):
    workflow = yaml.safe_load((project / ".github/workflows/deploy-staging.yml").read_text())
    steps = workflow["jobs"]["overlay"]["steps"]
    (set_image_step,) = [step for step in steps if "make set-image" in step.get("run", "")]
    assert set_image_step["run"] == 'make set-image OVERLAY=staging IMAGE="$IMAGE@$DIGEST"'
    assert set_image_step["env"]["DIGEST"] == "${{ needs.image.outputs.digest }}"
    (publish,) = [step for step in steps if step.get("run") == "make publish-branch"]
    assert publish["env"]["BRANCH"] == "deploy/staging"


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

    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)

    reports = json.loads(result.stdout)
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
    assert result.returncode == 0, result.stderr[-2000:]


# --- set_image.py ------------------------------------------------------------------------------------


@pytest.fixture
def deploy(project, tmp_path) -> Path:
    """A fresh copy of the baked deploy/ for each test (set_image.py edits the overlays next to it)."""
    return Path(shutil.copytree(project / "deploy", tmp_path / "deploy"))


def set_image(deploy: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, str(deploy / "set_image.py"), *arguments)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


PLACEHOLDER = f"    digest: sha256:{'0' * 64}\n"


@pytest.mark.parametrize(
    ("overlay_name", "reference", "old", "new"),
    [
        ("staging", f"{IMAGE}@{DIGEST}", PLACEHOLDER, f"    digest: {DIGEST}\n"),
        ("production", f"{IMAGE}@{DIGEST}", PLACEHOLDER, f"    digest: {DIGEST}\n"),
        (
            "production",
            f"registry.example.com:5000/team/scorer@{DIGEST}",
            f"    newName: {IMAGE}\n{PLACEHOLDER}",
            f"    newName: registry.example.com:5000/team/scorer\n    digest: {DIGEST}\n",
        ),
    ],
    ids=["staging-digest", "production-digest", "other-registry"],
)
def test_set_image_rewrites_only_the_image_and_keeps_comments(deploy, overlay_name, reference, old, new):
    path = deploy / "k8s/overlays" / overlay_name / "kustomization.yaml"
    before = snapshot(deploy)
    text = path.read_text()
    assert old in text

    result = set_image(deploy, overlay_name, reference)

    assert result.returncode == 0, result.stderr
    # Every other line of the overlay (comments included) and every other file is as it was.
    changed = str(path.relative_to(deploy))
    assert snapshot(deploy) == {**before, changed: text.replace(old, new).encode()}
    (container,) = by_kind(kustomize(path.parent))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == reference


def test_set_image_keeps_the_lines_after_an_images_block_in_the_middle(deploy):
    path = deploy / "k8s/overlays/staging/kustomization.yaml"
    head, block = path.read_text().split("images:\n")
    path.write_text(f"images:\n{block}\n# the rest of the overlay\n{head}")
    text = path.read_text()

    result = set_image(deploy, "staging", f"{IMAGE}@{DIGEST}")

    assert result.returncode == 0, result.stderr
    assert path.read_text() == text.replace(PLACEHOLDER, f"    digest: {DIGEST}\n")
    (container,) = by_kind(kustomize(path.parent))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{IMAGE}@{DIGEST}"


@pytest.mark.parametrize(
    "arguments",
    [
        ("staging", IMAGE),  # neither tag nor digest
        ("staging", f"{IMAGE}:sha-abc1234"),  # a tag can be moved after review: digests only
        ("production", f"{IMAGE}:v1.2.3"),
        ("staging", f"ghcr.io/Acme-ML/fraud-scorer@{DIGEST}"),  # uppercase repository
        ("staging", f"{IMAGE}@sha256:abc123"),  # short digest
        ("production", f"{IMAGE}:v1@{DIGEST}"),  # tag and digest together
        ("production", f"{IMAGE}:bad tag"),
        ("production", f"{IMAGE}:-v1"),  # a tag cannot start with '-'
        ("production", ""),
        ("canary", f"{IMAGE}@{DIGEST}"),  # no such overlay
        ("../../..", f"{IMAGE}@{DIGEST}"),  # nor a way out of deploy/k8s/overlays
        ("staging",),  # missing argument
    ],
)
def test_set_image_refuses_bad_arguments_with_one_line_and_exit_2(deploy, arguments):
    before = snapshot(deploy)

    result = set_image(deploy, *arguments)

    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("set_image: ")
    assert snapshot(deploy) == before


def test_set_image_is_ruff_clean_under_the_generated_projects_rules(project):
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = run(sys.executable, "-m", "ruff", *command, "deploy/set_image.py", cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr


# --- make variables stay data (issue 10, defect 5) --------------------------------------------------

HOSTILE = ("$(shell touch {sentinel}/make)", "`touch {sentinel}/backtick`", "$(touch {sentinel}/dollar)")


def external_variables(makefile: str) -> list[str]:
    """The names the generated Makefile declares as values from outside (its EXTERNAL list)."""
    declaration = makefile.split("EXTERNAL :=", 1)[1].split("\n$(", 1)[0]
    return declaration.replace("\\", " ").split()


def test_recipes_read_outside_values_only_as_quoted_environment_variables(project):
    """No recipe line pastes $(IMAGE) or ${IMAGE} (make text) where "$$IMAGE" (shell data) belongs."""
    makefile = (project / "Makefile").read_text()
    names = external_variables(makefile)
    assert {"IMAGE", "OVERLAY", "BRANCH", "TITLE", "PR_NUMBER", "TAG", "VERSION", "ALIAS"} <= set(names)
    recipes = [
        line for line in makefile.splitlines() if line.startswith("\t") and not line.startswith("\t$(eval")
    ]
    pasted = [line for line in recipes for name in names if f"$({name})" in line or f"${{{name}}}" in line]
    assert pasted == []


@pytest.mark.parametrize("payload", HOSTILE, ids=["make-shell", "backticks", "shell-substitution"])
def test_make_set_image_with_a_hostile_image_runs_nothing_and_is_refused(project, tmp_path, payload):
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    work = Path(shutil.copytree(project, tmp_path / "project", symlinks=True))
    before = snapshot(work / "deploy")
    hostile = payload.format(sentinel=sentinel)
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    result = subprocess.run(
        ["make", "--no-print-directory", "set-image", "OVERLAY=staging", f"IMAGE={hostile}", "RUN=env"],
        cwd=work, capture_output=True, text=True, check=False, timeout=60, env=environment,
    )  # fmt: skip

    assert list(sentinel.iterdir()) == []
    assert result.returncode != 0
    # The refusal quotes the value verbatim: it reached set_image.py as one literal argument.
    assert f"set_image: {hostile!r} is not an image reference" in result.stderr
    assert snapshot(work / "deploy") == before


@pytest.mark.parametrize(
    "target",
    ["set-image", "k8s-render", "pr-number", "gate", "promote", "serve", "baseline", "smoke", "bench"],
)
def test_no_target_expands_a_hostile_command_line_or_environment_value(project, tmp_path, target):
    """`make -n` expands every recipe as make would, without running it: no value may run code then."""
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    names = external_variables((project / "Makefile").read_text())
    on_command_line = [f"{name}=$(shell touch {sentinel}/cli-{name})" for name in names]
    from_environment = {name: f"$(shell touch {sentinel}/env-{name})" for name in names}

    for arguments, environment in (
        (on_command_line, os.environ),
        ([], {**os.environ, **from_environment}),
    ):
        result = subprocess.run(
            ["make", "-n", "--no-print-directory", target, *arguments],
            cwd=project, capture_output=True, text=True, check=False, timeout=60, env=environment,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    assert sorted(path.name for path in sentinel.iterdir()) == []


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
    result = run(tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSIONS[0],
                 str(manifest))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(KINDS), result.stdout + result.stderr
