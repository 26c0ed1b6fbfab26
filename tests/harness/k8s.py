"""The deploy bake the tests of deploy/ share: its answers, what its overlays should render, and rendering
them with kustomize."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.tools import run, tool

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
DIGEST = "sha256:" + "ab" * 32


def kubectl() -> str:
    """kubectl, or a skip on a workstation without it (in CI its absence is a failure)."""
    return tool("kubectl")


def kustomize(overlay_dir: Path) -> str:
    result = run([kubectl(), "kustomize", str(overlay_dir)], apart=True, timeout=60)
    assert result.returncode == 0, result.errors
    return result.output


def render_overlays(project: Path) -> dict[str, str]:
    """Overlay name -> what kustomize renders of it."""
    return {overlay: kustomize(project / "deploy/k8s/overlays" / overlay) for overlay in OVERLAYS}


def by_kind(text: str) -> dict[str, dict]:
    documents = [document for document in yaml.safe_load_all(text) if document]
    objects = {document["kind"]: document for document in documents}
    assert len(objects) == len(documents), "one object of each kind expected"
    return objects


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
