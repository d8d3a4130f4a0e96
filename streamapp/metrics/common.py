"""Metrics shared by the roles: model lifecycle (scoring) and build info (every role)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Info

from streamapp import __version__


class BuildMetrics:
    """``streamapp_build_info``, exported by every role (dashboards list jobs and pods by it)."""

    def __init__(self, prometheus: CollectorRegistry = REGISTRY) -> None:
        self.info = Info("streamapp_build", "streamapp build information.", registry=prometheus)
        self.info.info({"version": __version__})


class ModelMetrics:
    """Model loads, hot reloads and rejected artifacts, plus the serving model as an info metric."""

    def __init__(self, prometheus: CollectorRegistry = REGISTRY) -> None:
        self.loads = Counter(
            "streamapp_model_loads_total",
            "Model versions loaded and validated successfully.",
            ["model", "version"],
            registry=prometheus,
        )
        self.reloads = Counter(
            "streamapp_model_reloads_total",
            "Hot swaps of the serving model between batches.",
            ["model", "slot"],
            registry=prometheus,
        )
        self.rejects = Counter(
            "streamapp_model_rejects_total",
            "Model versions rejected at load or validation; the previous version kept serving.",
            ["model", "version"],
            registry=prometheus,
        )
        self.info = Info(
            "streamapp_model",
            "The model version serving in each slot (primary or candidate).",
            ["slot"],
            registry=prometheus,
        )
        self.build = BuildMetrics(prometheus)

    def serving(self, slot: str, name: str, version: str, runtime: str, device: str) -> None:
        """Record which version serves in ``slot``."""
        self.info.labels(slot=slot).info(
            {"model": name, "version": version, "runtime": runtime, "device": device}
        )
