"""Shared fixtures for the deployment tests (run them with tests/deploy/run.sh).

Layout of this folder:
- conftest.py               repo paths, YAML loading, kustomize rendering
- test_k8s_manifests.py     schema validation + cross-object checks of every overlay
- test_systemd_units.py     `systemd-analyze verify` + hardening/limit checks
- test_docker_context.py    .dockerignore applied to the tree, Dockerfile COPY sources
- test_config_names.py      CLICKTAIL_* names in deploy/ vs. the binary's own
- test_operations_doc.py    docs/operations.md covers what operators need
- test_alerts.py            the optional Prometheus rules: PromQL that parses, metrics that exist
- test_runnable_snippets.py shell snippets of README.md, docs/operations.md marked runnable run as pasted
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SYSTEMD = REPO / "deploy" / "systemd"

# Overlay name -> (kustomization dir, namespace it must put everything in).
# "prod+X" is the prod overlay with the optional component deploy/k8s/optional/X
# enabled, rendered through a throwaway overlay so the optional folders are
# tested too.
OVERLAYS = {
    "dev": (K8S / "overlays" / "dev", "clicktail-dev"),
    "prod": (K8S / "overlays" / "prod", "clicktail"),
    "prod+keda": (None, "clicktail"),
    "prod+prometheus": (None, "clicktail"),
}


def load_yaml_documents(path: Path) -> list[dict]:
    """All non-empty documents of a YAML file (raises on a syntax error)."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def kustomize_command() -> list[str]:
    """The renderer run.sh chose (`kustomize build` or `kubectl kustomize`)."""
    command = os.environ.get("CLICKTAIL_KUSTOMIZE")
    if not command:
        pytest.fail("CLICKTAIL_KUSTOMIZE is not set: run the tests through tests/deploy/run.sh")
    return shlex.split(command)


def render(directory: Path) -> list[dict]:
    """Renders a kustomization directory and returns its objects."""
    result = subprocess.run(
        [*kustomize_command(), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kustomize failed for {directory}:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


_RENDERED: dict[str, list[dict]] = {}


def rendered(overlay: str) -> list[dict]:
    """Rendered objects of an overlay, cached for the session."""
    if overlay not in _RENDERED:
        directory, _namespace = OVERLAYS[overlay]
        if overlay.startswith("prod+"):
            with tempfile.TemporaryDirectory() as temporary:
                # kustomize wants relative paths; the namespace is set again
                # because a component added here comes after prod's own
                # namespace transformer (uncommented in prod, it would not).
                prod = os.path.relpath(K8S / "overlays" / "prod", temporary)
                component = os.path.relpath(K8S / "optional" / overlay.removeprefix("prod+"), temporary)
                (Path(temporary) / "kustomization.yaml").write_text(
                    "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                    "kind: Kustomization\n"
                    f"namespace: {OVERLAYS['prod'][1]}\n"
                    f"resources:\n  - {prod}\n"
                    f"components:\n  - {component}\n",
                    encoding="utf-8",
                )
                _RENDERED[overlay] = render(Path(temporary))
        else:
            _RENDERED[overlay] = render(directory)
    return _RENDERED[overlay]


def find(objects: list[dict], kind: str, name_prefix: str) -> dict:
    """The one object of `kind` whose name is `name_prefix` or starts with it
    followed by kustomize's hash suffix."""
    matches = [
        obj
        for obj in objects
        if obj.get("kind") == kind
        and (
            obj["metadata"]["name"] == name_prefix
            or obj["metadata"]["name"].startswith(name_prefix + "-")
        )
    ]
    assert len(matches) == 1, f"expected one {kind} {name_prefix}, found {[m['metadata']['name'] for m in matches]}"
    return matches[0]


@pytest.fixture(params=list(OVERLAYS))
def overlay(request) -> tuple[str, list[dict], str]:
    """(overlay name, rendered objects, expected namespace) for each overlay."""
    name = request.param
    return name, rendered(name), OVERLAYS[name][1]
