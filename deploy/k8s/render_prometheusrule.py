"""Regenerate base/prometheusrule.yaml from deploy/prometheus/alerts.yml (the source of truth).

Run from anywhere: ``python deploy/k8s/render_prometheusrule.py``. A unit test fails when the
committed PrometheusRule and alerts.yml disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
HEADER = (
    "# GENERATED from deploy/prometheus/alerts.yml (the source of truth); "
    "a test checks they match.\n"
    "# Regenerate: python deploy/k8s/render_prometheusrule.py\n"
)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render() -> str:
    rules: dict[str, Any] = yaml.safe_load((HERE.parent / "prometheus" / "alerts.yml").read_text())
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "streamapp", "labels": {"app.kubernetes.io/name": "streamapp"}},
        "spec": {"groups": rules["groups"]},
    }
    return HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000)


if __name__ == "__main__":
    (HERE / "base" / "prometheusrule.yaml").write_text(render())
