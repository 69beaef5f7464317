"""Kubernetes manifests: every file parses, every overlay renders with
kustomize, every rendered object validates against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields are errors), and the objects
agree with each other (selectors, references, probes, security, shutdown).
"""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from conftest import K8S, OVERLAYS, REPO, find, load_yaml_documents, rendered

# Oldest and newest Kubernetes minor versions the manifests must be valid for.
# 1.29: autoscaling/v2 and policy/v1 are GA, sysctl ip_local_port_range safe.
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]

# Kinds whose schema is not part of Kubernetes (CRDs): checked by hand below.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}

ALL_YAML = sorted(K8S.rglob("*.yaml"))


def kustomization_files() -> list:
    return [p for p in ALL_YAML if p.name == "kustomization.yaml"]


def patch_files() -> set:
    """Files used as (partial) patches: not complete objects, not validated alone."""
    patches = set()
    for kustomization in kustomization_files():
        (config,) = load_yaml_documents(kustomization)
        for patch in config.get("patches", []) + config.get("patchesStrategicMerge", []):
            path = patch.get("path") if isinstance(patch, dict) else patch
            if path:
                patches.add((kustomization.parent / path).resolve())
    return patches


def complete_manifests() -> list:
    return [
        p
        for p in ALL_YAML
        if p.name != "kustomization.yaml" and p.resolve() not in patch_files()
    ]


# --- every file ---------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_parses_without_tabs(path):
    text = path.read_text(encoding="utf-8")
    assert "\t" not in text, f"{path}: tab character (YAML indentation must be spaces)"
    documents = load_yaml_documents(path)
    assert documents, f"{path}: no YAML document"
    for document in documents:
        assert isinstance(document, dict), f"{path}: top level is not a mapping"


def test_every_manifest_is_used_or_a_documented_template():
    """A file nobody references is a file nobody tests in context."""
    referenced = set(patch_files())
    for kustomization in kustomization_files():
        (config,) = load_yaml_documents(kustomization)
        for entry in config.get("resources", []) + config.get("components", []):
            referenced.add((kustomization.parent / entry).resolve())
    for path in complete_manifests():
        if path.name.endswith(".template.yaml"):
            continue
        assert path.resolve() in referenced, f"{path.relative_to(REPO)} is in no kustomization"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", complete_manifests(), ids=lambda p: str(p.relative_to(REPO)))
def test_source_manifest_validates(path, version):
    for document in load_yaml_documents(path):
        validate_object(document, version, where=str(path.relative_to(REPO)))


# --- rendered overlays ----------------------------------------------------------


def validate_object(obj: dict, version: str, where: str) -> None:
    assert "apiVersion" in obj and "kind" in obj and "metadata" in obj, f"{where}: not an object"
    if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
        check_custom_object(obj, where)
        return
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{where}: {obj['kind']}/{obj['metadata'].get('name')} invalid for {version}: {error.message} at {list(error.path)}")
    except kubernetes_validate.SchemaNotFoundError:
        pytest.fail(f"{where}: no schema for {obj['apiVersion']} {obj['kind']} in Kubernetes {version}")


def check_custom_object(obj: dict, where: str) -> None:
    {"ScaledObject": check_scaled_object, "PodMonitor": check_pod_monitor,
     "PrometheusRule": check_prometheus_rule}[obj["kind"]](obj, where)


def check_pod_monitor(obj: dict, where: str) -> None:
    """The Prometheus Operator's PodMonitor: the fields this repository uses."""
    spec = obj.get("spec") or {}
    assert (spec.get("selector") or {}).get("matchLabels"), f"{where}: PodMonitor needs spec.selector.matchLabels"
    endpoints = spec.get("podMetricsEndpoints")
    assert endpoints, f"{where}: PodMonitor needs spec.podMetricsEndpoints"
    for endpoint in endpoints:
        assert endpoint.get("port") and endpoint.get("path") == "/metrics", f"{where}: endpoint {endpoint}"
        assert re.fullmatch(r"[0-9]+[smh]", endpoint.get("interval", "30s")), f"{where}: interval {endpoint}"


def check_prometheus_rule(obj: dict, where: str) -> None:
    """The Prometheus Operator's PrometheusRule: groups of named alerts
    (the expressions themselves: test_alerts.py)."""
    groups = (obj.get("spec") or {}).get("groups")
    assert groups, f"{where}: PrometheusRule needs spec.groups"
    for group in groups:
        assert group.get("name") and group.get("rules"), f"{where}: group {group.get('name')} needs a name and rules"
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, f"{where}: {rule}"
            assert rule.get("alert") and rule.get("expr"), f"{where}: a rule needs alert and expr"


def check_scaled_object(obj: dict, where: str) -> None:
    """KEDA's ScaledObject (keda.sh/v1alpha1): required fields per KEDA's CRD."""
    spec = obj.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    assert target.get("name"), f"{where}: ScaledObject needs spec.scaleTargetRef.name"
    assert spec.get("triggers"), f"{where}: ScaledObject needs spec.triggers"
    minimum, maximum = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    assert isinstance(minimum, int) and isinstance(maximum, int) and 0 <= minimum <= maximum
    allowed = {"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
               "cooldownPeriod", "idleReplicaCount", "initialCooldownPeriod", "advanced",
               "fallback", "triggers"}
    assert set(spec) <= allowed, f"{where}: unknown ScaledObject fields {set(spec) - allowed}"
    for trigger in spec["triggers"]:
        assert trigger.get("type"), f"{where}: trigger without type"
        metadata = trigger.get("metadata") or {}
        assert all(isinstance(v, str) for v in metadata.values()), f"{where}: trigger metadata values must be strings"
        if trigger["type"] == "kafka":
            for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                assert metadata.get(key), f"{where}: kafka trigger needs metadata.{key}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_objects_validate(overlay, version):
    name, objects, _namespace = overlay
    assert objects, f"{name}: rendered nothing"
    for obj in objects:
        validate_object(obj, version, where=f"overlay {name}")


def test_rendered_kinds_complete(overlay):
    name, objects, namespace = overlay
    kinds = {(o["kind"], re.sub(r"-[a-z0-9]{10}$", "", o["metadata"]["name"])) for o in objects}
    expected = {
        ("Namespace", namespace),
        ("ConfigMap", "clicktail-config"),
        ("Deployment", "clicktail-worker"),
        ("Deployment", "clicktail-gateway"),
        ("Service", "clicktail-gateway"),
        ("HorizontalPodAutoscaler", "clicktail-gateway"),
        ("PodDisruptionBudget", "clicktail-gateway"),
        ("Job", "clicktail-migrate"),
    }
    assert expected <= kinds, f"{name}: missing {expected - kinds}"
    if name == "prod+keda":
        assert ("ScaledObject", "clicktail-worker") in kinds
    if name == "prod+prometheus":
        assert {("PodMonitor", "clicktail-worker"), ("PodMonitor", "clicktail-gateway"),
                ("PrometheusRule", "clicktail")} <= kinds
    # Production never ships placeholder secrets; dev generates its own.
    has_secret = any(o["kind"] == "Secret" for o in objects)
    assert has_secret == (name == "dev"), f"{name}: Secret rendered={has_secret}"


def test_namespaced_and_labelled(overlay):
    name, objects, namespace = overlay
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            assert meta["name"] == namespace
            assert meta["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
            continue
        assert meta.get("namespace") == namespace, f"{name}: {obj['kind']}/{meta['name']} in {meta.get('namespace')}"
        assert meta.get("labels", {}).get("app.kubernetes.io/name") == "clicktail"


def pod_specs(objects):
    """(owner, pod spec, pod labels) for every workload."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            template = obj["spec"]["template"]
            yield obj, template["spec"], template["metadata"].get("labels", {})


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_selectors_match_their_pods(overlay):
    name, objects, _namespace = overlay
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for deployment in deployments.values():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert matches(selector, deployment["spec"]["template"]["metadata"]["labels"])
        for constraint in deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
            assert matches(constraint["labelSelector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])
    pods = [labels for _owner, _spec, labels in pod_specs(objects)]
    for obj in objects:
        if obj["kind"] == "Service":
            selector = obj["spec"]["selector"]
        elif obj["kind"] in ("PodDisruptionBudget", "PodMonitor"):
            selector = obj["spec"]["selector"]["matchLabels"]
        else:
            continue
        assert any(matches(selector, labels) for labels in pods), f"{name}: {obj['kind']}/{obj['metadata']['name']} selects no pod"
    for obj in objects:
        if obj["kind"] in ("HorizontalPodAutoscaler", "ScaledObject"):
            target = obj["spec"]["scaleTargetRef"]
            assert target["name"] in deployments, f"{name}: {obj['kind']} targets missing {target['name']}"
        if obj["kind"] == "HorizontalPodAutoscaler":
            assert 1 <= obj["spec"]["minReplicas"] <= obj["spec"]["maxReplicas"]


def test_service_ports_resolve(overlay):
    _name, objects, _namespace = overlay
    for service in (o for o in objects if o["kind"] == "Service"):
        (owner,) = [o for o in objects if o["kind"] == "Deployment"
                    and matches(service["spec"]["selector"], o["spec"]["template"]["metadata"]["labels"])]
        names = {p["name"]: p["containerPort"]
                 for c in owner["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert target in names or target in names.values(), f"Service {service['metadata']['name']}: targetPort {target} not a container port"


def test_pod_monitors_scrape_named_container_ports(overlay):
    _name, objects, _namespace = overlay
    for monitor in (o for o in objects if o["kind"] == "PodMonitor"):
        (owner,) = [o for o in objects if o["kind"] == "Deployment"
                    and matches(monitor["spec"]["selector"]["matchLabels"], o["spec"]["template"]["metadata"]["labels"])]
        names = {p["name"] for c in owner["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in names, f"PodMonitor {monitor['metadata']['name']}: no container port {endpoint['port']}"


def test_config_and_secret_references_resolve(overlay):
    """Every configMapRef / secretKeyRef names an object in the render, or, for a
    Secret created out of band (prod), one whose template has that key."""
    name, objects, _namespace = overlay
    present = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    (template,) = load_yaml_documents(K8S / "base" / "secret.template.yaml")
    for owner, spec, _labels in pod_specs(objects):
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in present, f"{name}: missing ConfigMap {source['configMapRef']['name']}"
            for variable in container.get("env", []):
                reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if not reference:
                    continue
                secret = present.get(("Secret", reference["name"]))
                if secret is not None:
                    keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
                else:
                    assert name != "dev", "dev must generate its Secret"
                    assert reference["name"] == template["metadata"]["name"], f"{name}: Secret {reference['name']} has no template"
                    keys = set(template["stringData"])
                assert reference["key"] in keys, f"{name}: {owner['metadata']['name']} wants key {reference['key']} of {reference['name']}"


def test_pods_are_locked_down(overlay):
    name, objects, _namespace = overlay
    for owner, spec, _labels in pod_specs(objects):
        where = f"{name}: {owner['kind']}/{owner['metadata']['name']}"
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, where
        assert pod_security.get("runAsUser", 0) > 0, where
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert spec.get("automountServiceAccountToken") is False, where
        for container in spec["containers"]:
            security = container.get("securityContext", {})
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            image = container["image"]
            assert ":" in image and not image.endswith(":latest"), f"{where}: image {image} must be pinned"
            resources = container.get("resources", {})
            assert resources.get("requests", {}).get("cpu") and resources.get("requests", {}).get("memory"), f"{where}: requests"
            assert resources.get("limits", {}).get("memory"), f"{where}: memory limit"


def container_of(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("role", ["worker", "gateway"])
def test_probes_and_graceful_shutdown(overlay, role):
    name, objects, _namespace = overlay
    deployment = find(objects, "Deployment", f"clicktail-{role}")
    spec = deployment["spec"]["template"]["spec"]
    container = container_of(deployment)
    assert container["args"] == [role]
    port_names = {p["name"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path, f"{name} {role}: {probe} on {http['path']}"
        assert http["port"] in port_names, f"{name} {role}: {probe} port {http['port']} is not a named container port"
    # preStop sleeps, then SIGTERM starts the drain; both fit the grace period.
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] >= int(sleep[1]) + 30, f"{name} {role}: no time left to drain"
    assert spec.get("topologySpreadConstraints"), f"{name} {role}: no topology spread"
    if role == "gateway":
        assert any(p["containerPort"] == 8080 for p in container["ports"])
    else:
        assert any(p["containerPort"] == 9100 for p in container["ports"])


def test_workers_one_consumer_group_within_partitions(overlay):
    name, objects, _namespace = overlay
    config = find(objects, "ConfigMap", "clicktail-config")["data"]
    worker = find(objects, "Deployment", "clicktail-worker")
    container = container_of(worker)
    # One pinned thread per CPU of the limit, from the downward API.
    (threads,) = [v for v in container["env"] if v["name"] == "CLICKTAIL_WORKER_THREADS"]
    assert threads["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0, "a surge worker can exceed the partition count"
    assert config["CLICKTAIL_WORKER_GROUP"]
    if name.startswith("prod"):
        # Guaranteed QoS with whole cores: the static CPU manager pins them.
        resources = container["resources"]
        assert resources["requests"] == resources["limits"], "prod workers need requests == limits"
        assert re.fullmatch(r"[1-9][0-9]*", str(resources["limits"]["cpu"])), "whole CPUs only"
    if name == "prod+keda":
        scaled = find(objects, "ScaledObject", "clicktail-worker")
        (trigger,) = scaled["spec"]["triggers"]
        metadata = trigger["metadata"]
        assert metadata["consumerGroup"] == config["CLICKTAIL_WORKER_GROUP"]
        assert metadata["topic"] == config["CLICKTAIL_RAW_TOPIC"]
        assert metadata["allowIdleConsumers"] == "false"
        # The static replica count and KEDA's ceiling encode the same bound.
        assert scaled["spec"]["maxReplicaCount"] == worker["spec"]["replicas"]
        assert metadata["bootstrapServers"].split(",")[0] == config["CLICKTAIL_KAFKA_BROKERS"].split(",")[0]


def test_migration_job(overlay):
    _name, objects, _namespace = overlay
    job = find(objects, "Job", "clicktail-migrate")
    spec = job["spec"]["template"]["spec"]
    assert container_of(job)["args"] == ["migrate"]
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0


def test_config_keys_are_clicktail_settings(overlay):
    _name, objects, _namespace = overlay
    config = find(objects, "ConfigMap", "clicktail-config")["data"]
    for key, value in config.items():
        assert re.fullmatch(r"CLICKTAIL_[A-Z0-9_]+|RUST_LOG", key), key
        assert value != "", key
        assert "DATABASE_URL" not in key and "TOKEN" not in key, f"{key} is a secret: put it in clicktail-secrets"


def test_dev_secret_is_obviously_not_production():
    objects = rendered("dev")
    secret = find(objects, "Secret", "clicktail-secrets")
    assert set(secret["data"]) == {"database-url", "admin-token"}
    (template,) = load_yaml_documents(K8S / "base" / "secret.template.yaml")
    for value in template["stringData"].values():
        assert "CHANGE_ME" in value, "the template must hold placeholders only"


def test_overlays_table_matches_folders():
    folders = {p.name for p in (K8S / "overlays").iterdir() if p.is_dir()}
    assert folders == {n for n in OVERLAYS if "+" not in n}
