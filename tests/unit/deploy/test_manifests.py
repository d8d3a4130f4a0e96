"""deploy/k8s and deploy/compose: render, and check env names, commands and images against the code.

No cluster or Docker engine here. Both Kubernetes overlays (``deploy/k8s/cpu``, ``cuda``) are
rendered with kustomize exactly as ``kubectl apply -k`` would, and the rendered objects are
checked: every ``STREAMAPP_*`` name is a real setting and the values load, every command is a
real CLI subcommand, images are the release images, references between objects resolve, the
registry volume is written by the retrainer only, probes and scaling limits match the settings.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streamapp import __version__
from streamapp.cli import app
from streamapp.config import ConfigError
from streamapp.registry.registry import ModelRegistry
from tests.scoring_support import copy_version
from tests.unit.deploy.conftest import (
    DEPLOY,
    K8S,
    OPERATIONS_DOC,
    OVERLAYS,
    load_yaml_documents,
    render_overlay,
)
from tests.unit.deploy.settings_check import is_cli_command, is_setting, settings_from_env

IMAGE = "ghcr.io/streamapp/streamapp"
ROLES = {"streamapp-scoring": ["score"], "streamapp-monitor": ["monitor"],
         "streamapp-retrain": ["retrain"]}


def _k8s_objects(overlay: str = "cpu") -> list[dict[str, Any]]:
    return list(render_overlay(overlay))


def _by_kind(kind: str, overlay: str = "cpu") -> list[dict[str, Any]]:
    return [o for o in _k8s_objects(overlay) if o.get("kind") == kind]


def _named(kind: str, name: str, overlay: str = "cpu") -> dict[str, Any]:
    (obj,) = [o for o in _by_kind(kind, overlay) if o["metadata"]["name"] == name]
    return obj


def _configmap_env() -> dict[str, str]:
    return dict(_named("ConfigMap", "streamapp-config")["data"])


def _secret_env() -> dict[str, str]:
    data = _named("Secret", "streamapp-kafka")["stringData"]
    return {k: str(v) for k, v in data.items()}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["template"]["spec"]["containers"])


def _workloads(overlay: str = "cpu") -> list[dict[str, Any]]:
    return _by_kind("Deployment", overlay) + _by_kind("Job", overlay)


def _container_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


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


def test_base_lists_every_manifest_and_overlays_only_add_patches() -> None:
    (base,) = load_yaml_documents(K8S / "base" / "kustomization.yaml")
    on_disk = {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(base["resources"]), "every manifest must be part of the base"
    assert "images" not in base, "the overlays set the images"
    for overlay in OVERLAYS:
        (kustomization,) = load_yaml_documents(K8S / overlay / "kustomization.yaml")
        assert kustomization["resources"] == ["../base"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_into_the_namespace_with_release_images(overlay: str) -> None:
    """`kubectl kustomize deploy/k8s/<overlay>` works (it once failed with a cycle)."""
    objects = _k8s_objects(overlay)
    assert {o["kind"] for o in objects} >= {
        "Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Job",
        "Service", "ServiceMonitor", "PrometheusRule", "ScaledObject", "PodDisruptionBudget",
    }
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "streamapp", obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamapp"
    images = {
        w["metadata"]["name"]: c["image"] for w in _workloads(overlay) for c in _containers(w)
    }
    scoring = f"{IMAGE}:{__version__}" + ("-cuda" if overlay == "cuda" else "")
    assert images == {
        "streamapp-scoring": scoring,
        "streamapp-monitor": f"{IMAGE}:{__version__}",
        "streamapp-retrain": f"{IMAGE}:{__version__}",
        "streamapp-topics": f"{IMAGE}:{__version__}",
    }


def test_docs_build_and_run_the_images_the_manifests_use() -> None:
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    tags = set(re.findall(r"-t (\S+) \.", text))
    assert tags == {f"{IMAGE}:{__version__}", f"{IMAGE}:{__version__}-cuda"}
    named = set(re.findall(r"[\w./-]*streamapp:\d[\w.-]*\w", text))
    ours = {n for n in named if not n.startswith("registry.example.com/")}  # override examples
    assert ours == tags, f"docs name other images: {ours - tags}"


def test_every_streamapp_env_name_in_manifests_is_a_setting() -> None:
    names = set(_configmap_env()) | set(_secret_env())
    for overlay in OVERLAYS:
        for workload in _workloads(overlay):
            for container in _containers(workload):
                names |= set(_container_env(container))
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
        if svc.get("image", "").startswith(f"{IMAGE}:")
    }
    assert set(streamapp_services) == {"topics", "scoring", "monitor", "retrain"}
    for name, service in streamapp_services.items():
        assert service["image"] == f"{IMAGE}:{__version__}"
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


def test_workloads_run_real_commands() -> None:
    commands = {}
    for workload in _workloads():
        for container in _containers(workload):
            assert "command" not in container, "the image's ENTRYPOINT is the CLI"
            assert is_cli_command(container["args"]), container["args"]
            commands[workload["metadata"]["name"]] = container["args"]
            assert container["resources"]["requests"], container["name"]
            assert container["resources"]["limits"]["memory"], container["name"]
    assert commands == {**ROLES, "streamapp-topics": ["topics", "create"]}


def test_cli_command_check_rejects_unknown_commands() -> None:
    assert not is_cli_command(["scoring"])
    assert not is_cli_command(["topics"])  # a group, not a command
    assert is_cli_command(["models", "promote"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_between_objects_resolve(overlay: str) -> None:
    configmaps = {o["metadata"]["name"] for o in _by_kind("ConfigMap", overlay)}
    secrets = {o["metadata"]["name"]: o for o in _by_kind("Secret", overlay)}
    claims = {o["metadata"]["name"] for o in _by_kind("PersistentVolumeClaim", overlay)}
    for workload in _workloads(overlay):
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
    (auth,) = _by_kind("TriggerAuthentication", overlay)
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["key"] in secrets[ref["name"]]["stringData"], ref


def test_ca_mount_matches_the_configured_ca_location() -> None:
    ca = Path(_configmap_env()["STREAMAPP_KAFKA__SSL_CA_LOCATION"])
    for workload in _workloads():
        for container in _containers(workload):
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert str(ca.parent) in mounts, workload["metadata"]["name"]
    assert ca.name in _named("Secret", "streamapp-kafka-ca")["stringData"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_probes_and_ports_match_the_http_settings(overlay: str) -> None:
    port = int(_configmap_env()["STREAMAPP_HTTP__PORT"])
    deployments = _by_kind("Deployment", overlay)
    assert {d["metadata"]["name"] for d in deployments} == set(ROLES)
    for deployment in deployments:
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        (container,) = _containers(deployment)
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        (service,) = [
            s
            for s in _by_kind("Service", overlay)
            if s["spec"]["selector"].items() <= pod_labels.items()
        ]
        # The Service name becomes the Prometheus job label the alerts use.
        assert service["metadata"]["name"] == deployment["metadata"]["name"]
        if deployment["spec"]["replicas"] > 1:
            (pdb,) = [
                p
                for p in _by_kind("PodDisruptionBudget", overlay)
                if p["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
            ]
            assert pdb["spec"]["maxUnavailable"] == 1
    (monitor,) = _by_kind("ServiceMonitor", overlay)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    (components,) = monitor["spec"]["selector"]["matchExpressions"]
    for service in _by_kind("Service", overlay):
        labels = service["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] in components["values"]


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


def test_cuda_overlay_requests_a_gpu_for_scoring_only() -> None:
    scoring = _named("Deployment", "streamapp-scoring", "cuda")
    (container,) = _containers(scoring)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert scoring["spec"]["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    settings = settings_from_env({**_configmap_env(), **_secret_env(), **_container_env(container)})
    assert settings.model.device == "cuda"
    assert container["volumeMounts"] == _containers(_named("Deployment", "streamapp-scoring"))[0][
        "volumeMounts"
    ], "the patch must not drop the base's mounts"
    for name in ("streamapp-monitor", "streamapp-retrain"):
        (other,) = _containers(_named("Deployment", name, "cuda"))
        assert "nvidia.com/gpu" not in other["resources"]["requests"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_registry_volume_is_shared_and_written_by_the_retrainer_only(overlay: str) -> None:
    """Workers mount the registry read-only and hot-reload; the retrainer writes it."""
    registry = settings_from_env({**_configmap_env(), **_secret_env()}).model.registry
    (claim,) = _by_kind("PersistentVolumeClaim", overlay)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for name in ROLES:
        deployment = _named("Deployment", name, overlay)
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        (container,) = pod["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert Path(mount["mountPath"]) == Path(registry), name
        writes = name == "streamapp-retrain"
        assert mount.get("readOnly", False) is not writes, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["fsGroup"] == 10001  # the volume is writable by uid 10001


def test_retrainer_runs_alone_with_its_own_probes_and_metrics() -> None:
    retrain = _named("Deployment", "streamapp-retrain")
    assert retrain["spec"]["replicas"] == 1
    assert retrain["spec"]["strategy"] == {"type": "Recreate"}  # never two writers at once
    (container,) = _containers(retrain)
    assert container["args"] == ["retrain"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    service = _named("Service", "streamapp-retrain")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert "streamapp-retrain" not in {o["spec"]["scaleTargetRef"]["name"]
                                       for o in _by_kind("ScaledObject")}


def _runbook_commands() -> list[list[str]]:
    """The ``kubectl ... exec ...`` lines of docs/operations.md, as argv lists."""
    text = OPERATIONS_DOC.read_text(encoding="utf-8")
    return [shlex.split(line) for line in re.findall(r"^kubectl .*\bexec\b.*$", text, re.M)]


def test_rollback_runbook_runs_streamapp_in_the_retrainer_pod() -> None:
    """The documented in-cluster promote/rollback: real target, real command, writable registry."""
    commands = _runbook_commands()
    promotes = [argv for argv in commands if argv[argv.index("--") + 1 :][:3] == [
        "streamapp", "models", "promote"]]
    assert len(promotes) >= 2, "docs/operations.md: promote and roll back in the cluster"
    for argv in commands:
        assert argv[argv.index("-n") + 1] == "streamapp"
        target = argv[argv.index("exec") + 1]
        assert target.startswith("deploy/")
        deployment = _named("Deployment", target.removeprefix("deploy/"))
        assert deployment["metadata"]["name"] == "streamapp-retrain", "the registry's writer"
        streamapp_argv = argv[argv.index("--") + 1 :]
        assert streamapp_argv[0] == "streamapp"
        assert is_cli_command(streamapp_argv[1:]), streamapp_argv


def test_scoring_rollout_never_runs_more_consumers_than_partitions() -> None:
    rollout = _named("Deployment", "streamapp-scoring")["spec"]["strategy"]["rollingUpdate"]
    assert rollout == {"maxSurge": 0, "maxUnavailable": 1}


def test_runbook_promotion_and_rollback_work_on_a_registry(model_registry_dir: Path) -> None:
    """The runbook's commands, in order, as the retrainer pod runs them (registry from env)."""
    copy_version(model_registry_dir, "agrawal-clf", "1", "2")
    registry = ModelRegistry(model_registry_dir)
    env = {"STREAMAPP_MODEL__REGISTRY": str(model_registry_dir)}
    for argv in _runbook_commands():
        streamapp_argv = argv[argv.index("--") + 2 :]
        result = CliRunner().invoke(app, streamapp_argv, env=env)
        assert result.exit_code == 0, (streamapp_argv, result.output)
        if streamapp_argv[:2] == ["models", "promote"]:
            name, version = streamapp_argv[2:4]
            pointer = "candidate" if "--pointer" in streamapp_argv else "production"
            assert registry.pointer(name, pointer) == version, streamapp_argv
    assert registry.pointer("agrawal-clf") == "1", "the runbook ends with the rollback"
