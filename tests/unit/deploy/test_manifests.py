"""deploy/k8s and deploy/compose: parse, and check env names, commands and images against the code.

No cluster or Docker engine here: this validates what can be validated offline — every
``STREAMAPP_*`` name is a real setting and the values load, every command is a real CLI
subcommand, references between objects resolve, and scaling limits match the partition count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streamapp import __version__
from streamapp.config import ConfigError
from tests.unit.deploy.conftest import DEPLOY, load_yaml_documents
from tests.unit.deploy.settings_check import is_cli_command, is_setting, settings_from_env

K8S = DEPLOY / "k8s"
IMAGE = "ghcr.io/streamapp/streamapp"


def _k8s_objects(directory: Path = K8S) -> list[dict[str, Any]]:
    return [doc for path in sorted(directory.glob("*.yaml")) for doc in load_yaml_documents(path)]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in _k8s_objects() if o.get("kind") == kind]


def _named(kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in _by_kind(kind) if o["metadata"]["name"] == name]
    return obj


def _configmap_env() -> dict[str, str]:
    return dict(_named("ConfigMap", "streamapp-config")["data"])


def _secret_env() -> dict[str, str]:
    data = _named("Secret", "streamapp-kafka")["stringData"]
    return {k: str(v) for k, v in data.items()}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"])


def _workloads() -> list[dict[str, Any]]:
    return _by_kind("Deployment") + _by_kind("Job")


def test_every_yaml_and_json_file_under_deploy_parses() -> None:
    files = sorted(
        p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml", ".json"} and p.is_file()
    )
    assert len(files) >= 15
    for path in files:
        if path.suffix == ".json":
            assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path
        else:
            assert load_yaml_documents(path), f"{path} is empty"


def test_kustomizations_list_existing_files() -> None:
    for path in (K8S / "kustomization.yaml", K8S / "cuda" / "kustomization.yaml"):
        (kustomization,) = load_yaml_documents(path)
        for resource in kustomization.get("resources", []):
            assert (path.parent / resource).exists(), f"{path}: {resource}"
        for patch in kustomization.get("patches", []):
            assert (path.parent / patch["path"]).is_file(), f"{path}: {patch['path']}"
    (base,) = load_yaml_documents(K8S / "kustomization.yaml")
    listed = set(base["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == listed, "every manifest must be part of the kustomization"


def test_every_streamapp_env_name_in_manifests_is_a_setting() -> None:
    names = set(_configmap_env()) | set(_secret_env())
    for workload in _workloads():
        for container in _containers(workload):
            names |= {e["name"] for e in container.get("env", [])}
    (patch,) = load_yaml_documents(K8S / "cuda" / "scoring-gpu-patch.yaml")
    names |= {e["name"] for c in _containers(patch) for e in c.get("env", [])}
    compose = load_yaml_documents(DEPLOY / "compose" / "docker-compose.yml")[0]
    for service in compose["services"].values():
        names |= set(service.get("environment", {}))
    streamapp_names = {n for n in names if n.startswith("STREAMAPP_")}
    assert len(streamapp_names) >= 15
    unknown = sorted(n for n in streamapp_names if not is_setting(n))
    assert not unknown, f"not streamapp settings: {unknown}"


def test_setting_name_check_rejects_typos() -> None:
    assert is_setting("STREAMAPP_MONITORING__POLICY__MIN_SAMPLES")
    assert not is_setting("STREAMAPP_KAFKA__BOOTSTRAP_SERVER")
    assert not is_setting("STREAMAPP_HTTP__PORT__X")
    assert not is_setting("KAFKA_NODE_ID")


def test_k8s_configuration_loads_as_settings() -> None:
    settings = settings_from_env({**_configmap_env(), **_secret_env()})
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.http.host == "0.0.0.0"
    assert settings.log.format == "json"
    conf = settings.kafka.librdkafka()
    assert conf["sasl.password"] == _secret_env()["STREAMAPP_KAFKA__SASL_PASSWORD"]


def test_config_check_catches_a_bad_value() -> None:
    with pytest.raises(ConfigError):
        settings_from_env({**_configmap_env(), "STREAMAPP_HTTP__PORT": "not-a-port"})


def test_compose_services_load_as_settings_and_run_real_commands() -> None:
    compose = load_yaml_documents(DEPLOY / "compose" / "docker-compose.yml")[0]
    streamapp_services = {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("image", "").startswith("streamapp:")
    }
    assert set(streamapp_services) == {"topics", "scoring", "monitor"}
    for name, service in streamapp_services.items():
        assert service["image"] == f"streamapp:{__version__}"
        assert is_cli_command(service["command"]), (name, service["command"])
        settings = settings_from_env(service["environment"])
        assert settings.kafka.bootstrap_servers == "kafka:9092", name
        assert settings.http.port == 8000
    assert "kafka" in compose["services"]
    kafka_env = compose["services"]["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert {"prometheus", "alertmanager", "grafana"} <= set(compose["services"])
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"host port {port} not on loopback"
    for service in ("prometheus", "alertmanager", "grafana"):
        for volume in compose["services"][service]["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / "compose" / source).exists(), volume


def test_workloads_run_real_commands_and_the_release_image() -> None:
    commands = {}
    for workload in _workloads():
        for container in _containers(workload):
            assert container["image"] == f"{IMAGE}:{__version__}", workload["metadata"]["name"]
            assert "command" not in container, "the image's ENTRYPOINT is the CLI"
            assert is_cli_command(container["args"]), container["args"]
            commands[workload["metadata"]["name"]] = container["args"]
            assert container["resources"]["requests"], container["name"]
            assert container["resources"]["limits"]["memory"], container["name"]
    assert commands == {
        "streamapp-scoring": ["score"],
        "streamapp-monitor": ["monitor"],
        "streamapp-topics": ["topics", "create"],
    }


def test_cli_command_check_rejects_unknown_commands() -> None:
    assert not is_cli_command(["scoring"])
    assert not is_cli_command(["topics"])  # a group, not a command
    assert is_cli_command(["models", "promote"])


def test_references_between_objects_resolve() -> None:
    configmaps = {o["metadata"]["name"] for o in _by_kind("ConfigMap")}
    secrets = {o["metadata"]["name"]: o for o in _by_kind("Secret")}
    claims = {o["metadata"]["name"] for o in _by_kind("PersistentVolumeClaim")}
    for workload in _workloads():
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            mounted = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounted <= {v["name"] for v in pod.get("volumes", [])}
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
    (auth,) = _by_kind("TriggerAuthentication")
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["key"] in secrets[ref["name"]]["stringData"], ref


def test_ca_mount_matches_the_configured_ca_location() -> None:
    ca = Path(_configmap_env()["STREAMAPP_KAFKA__SSL_CA_LOCATION"])
    for workload in _workloads():
        for container in _containers(workload):
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert str(ca.parent) in mounts, workload["metadata"]["name"]
    assert ca.name in _named("Secret", "streamapp-kafka-ca")["stringData"]


def test_services_probes_and_ports_match_the_http_settings() -> None:
    port = int(_configmap_env()["STREAMAPP_HTTP__PORT"])
    for deployment in _by_kind("Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        (container,) = _containers(deployment)
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        (service,) = [
            s for s in _by_kind("Service") if s["spec"]["selector"].items() <= pod_labels.items()
        ]
        # The Service name becomes the Prometheus job label the alerts use.
        assert service["metadata"]["name"] == deployment["metadata"]["name"]
        assert service["metadata"]["name"] in {"streamapp-scoring", "streamapp-monitor"}
        (pdb,) = [
            p
            for p in _by_kind("PodDisruptionBudget")
            if p["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert pdb["spec"]["maxUnavailable"] == 1
    (monitor,) = _by_kind("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    for service in _by_kind("Service"):
        labels = service["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_keda_scales_scoring_on_lag_up_to_the_partition_count() -> None:
    env = _configmap_env()
    scaled = _named("ScaledObject", "streamapp-scoring")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "streamapp-scoring"
    assert scaled["maxReplicaCount"] == int(env["STREAMAPP_TOPICS__PARTITIONS"])
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == env["STREAMAPP_SCORING__GROUP_ID"]
    assert meta["topic"] == env["STREAMAPP_TOPICS__EVENTS"]
    assert meta["bootstrapServers"] == env["STREAMAPP_KAFKA__BOOTSTRAP_SERVERS"]
    assert meta["allowIdleConsumers"] == "false"
    assert meta["offsetResetPolicy"] == env["STREAMAPP_SCORING__AUTO_OFFSET_RESET"]
    assert int(meta["lagThreshold"]) > 0
    assert trigger["authenticationRef"]["name"] in {
        o["metadata"]["name"] for o in _by_kind("TriggerAuthentication")
    }


def test_cuda_overlay_requests_a_gpu_with_the_cuda_image() -> None:
    (patch,) = load_yaml_documents(K8S / "cuda" / "scoring-gpu-patch.yaml")
    base = _named("Deployment", patch["metadata"]["name"])
    (container,) = _containers(patch)
    assert container["name"] in {c["name"] for c in _containers(base)}
    assert container["image"] == f"{IMAGE}:{__version__}-cuda"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1
    env = {e["name"]: e["value"] for e in container["env"]}
    settings = settings_from_env({**_configmap_env(), **_secret_env(), **env})
    assert settings.model.device == "cuda"


def test_scoring_rollout_never_runs_more_consumers_than_partitions() -> None:
    rollout = _named("Deployment", "streamapp-scoring")["spec"]["strategy"]["rollingUpdate"]
    assert rollout == {"maxSurge": 0, "maxUnavailable": 1}
