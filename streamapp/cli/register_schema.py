"""``models register --schema SUBJECT``: the model's features from a registered schema.

The subject's latest version (Avro, or a simple JSON Schema) names the features and
their kinds (:mod:`streamapp.formats.schema_features`); a nested field is the feature
that ``formats.features`` maps to its dotted path, else a feature named by the path.
The reference data is narrowed to those columns, in schema order, and must hold every
one of them: registration then infers ranges and string categories from it as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from streamapp.cli.app import EXIT_CONFIG, EXIT_UNREACHABLE, fail
from streamapp.config import ConfigError, Settings
from streamapp.registry.manifest import FeatureSpec


@dataclass
class SchemaReference:
    """What ``register`` gets instead of the bare ``--data`` file."""

    frame: Any
    """The reference rows, narrowed to the schema's features (and the label column)."""
    features: list[FeatureSpec] = field(default_factory=list)
    """Enum and boolean features, with their categories."""
    categorical: list[str] = field(default_factory=list)
    """String features (categories from the reference data)."""
    summary: str = ""


def schema_reference(cfg: Settings, subject: str, data: Path, label: str | None
                     ) -> SchemaReference:
    """Fetch ``subject``'s latest schema and narrow ``data`` to its features; exits 2 without a
    registry URL, 3 when the registry does not answer, 1 naming a missing or mistyped column."""
    import pandas as pd
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from streamapp.formats.schema_features import SchemaFeatureError, schema_fields
    from streamapp.registration.frame import RegistrationError, read_table

    f = cfg.formats
    try:
        client = SchemaRegistryClient(cfg.schema_registry.client_conf())
        latest = client.get_latest_version(subject)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_CONFIG, label="configuration error") from None
    except SchemaRegistryError as exc:
        if 400 <= exc.http_status_code < 500:
            raise fail(f"not registered: no schema under subject {subject!r} "
                       f"(HTTP {exc.http_status_code}: {exc.error_message})") from None
        raise fail(f"schema registry unreachable: {exc}", EXIT_UNREACHABLE) from None
    except Exception as exc:  # connection refused, timeout, TLS
        raise fail(f"schema registry unreachable: {type(exc).__name__}: {exc}",
                   EXIT_UNREACHABLE) from None
    try:
        fields, skipped = schema_fields(latest.schema.schema_type or "AVRO",
                                        latest.schema.schema_str or "null",
                                        [f.event_id_field, f.event_time_field, "model"])
        frame = read_table(data)
    except (SchemaFeatureError, RegistrationError, ValueError, OSError) as exc:
        raise fail(f"not registered: --schema {subject}: {exc}") from None
    by_path = {path: feature for feature, path in f.features.items()}
    names = [by_path.get(s.path, s.path) for s in fields]
    missing = [n for n in names if n not in frame.columns]
    if not names or missing:
        raise fail(f"not registered: the reference data {data} lacks the schema's feature "
                   f"columns {missing or '(the schema has no scalar fields)'}; its columns: "
                   f"{', '.join(map(str, frame.columns))}")
    out = SchemaReference(frame[names + ([label] if label in frame.columns else [])])
    for name, spec in zip(names, fields, strict=True):
        column = frame[name]
        if spec.kind == "numeric" and not (pd.api.types.is_numeric_dtype(column)
                                           and not pd.api.types.is_bool_dtype(column)):
            raise fail(f"not registered: field {spec.path} is numeric in {subject}, but column "
                       f"{name!r} of {data} holds {column.dtype} values")
        if spec.categories is not None:
            out.features.append(FeatureSpec(name=name, type="categorical",
                                            categories=list(spec.categories)))
        elif spec.kind == "categorical":
            out.categorical.append(name)
    out.summary = (f"features from {subject} version {latest.version} (schema id "
                   f"{latest.schema_id}): {', '.join(names)}"
                   + (f"; not features: {', '.join(skipped)}" if skipped else ""))
    typer.echo(out.summary)
    return out
