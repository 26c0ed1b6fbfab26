"""The generated deploy/argocd: the Applications and the AppProject match their schemas and their
overlays, the namespaces enforce the restricted profile, and only workflows move deploy/staging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.k8s import (
    ANSWERS,
    EXPECTED,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    SLUG,
    render_overlays,
)
from harness.tools import run, tool

APPLICATION_SCHEMA = Path(__file__).parent / "schemas" / "argocd-application.json"


@pytest.fixture(scope="module")
def project(bake_answers) -> Path:
    return bake_answers(ANSWERS)


def test_argocd_applications_match_the_vendored_schema(project):
    applications = [str(project / "deploy/argocd" / name) for name in ("production.yaml", "staging.yaml")]
    assert sorted(path.name for path in (project / "deploy/argocd").glob("*.yaml")) == [
        "namespaces.yaml", "production.yaml", "project.yaml", "staging.yaml",
    ]  # fmt: skip
    result = run(
        [tool("check-jsonschema"), "--schemafile", str(APPLICATION_SCHEMA), *applications],
        apart=True,
        timeout=60,
    )
    assert result.returncode == 0, result.output + result.errors


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
    result = run(
        [tool("check-jsonschema"), "--schemafile", str(APPLICATION_SCHEMA), str(broken)],
        apart=True,
        timeout=60,
    )
    assert result.returncode != 0, result.output


@pytest.mark.parametrize("overlay", OVERLAYS)
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
    result = run(
        [tool("check-jsonschema"), "--schemafile", str(APPPROJECT_SCHEMA), str(path)], apart=True, timeout=60
    )
    assert result.returncode == 0, result.output + result.errors
    broken = tmp_path / "broken.yaml"
    broken.write_text(path.read_text().replace("namespaceResourceWhitelist", "namespaceResourceWhiteList"))
    result = run(
        [tool("check-jsonschema"), "--schemafile", str(APPPROJECT_SCHEMA), str(broken)],
        apart=True,
        timeout=60,
    )
    assert result.returncode != 0, result.output


def test_the_app_project_allows_this_repository_its_two_namespaces_and_exactly_the_rendered_kinds(project):
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
        for text in render_overlays(project).values()
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
    result = run(
        [tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSIONS[0], str(path)],
        apart=True,
        timeout=60,
    )
    assert result.returncode == 0, result.output + result.errors
    assert result.output.count(" passed for resource ") == len(OVERLAYS), result.output


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
