"""The scoring worker's output formats: the predictions topic as JSON (default) or Avro.

With ``formats.predictions = "avro"`` the worker registers the predictions schema under
``<topics.predictions>-value`` before it loads the model (:func:`start_predictions`).
A subject that refuses the schema stops the start: :class:`OutputSchemaError`, which the
host's start-up path turns into exit code 2 and one line. The prediction-log and
dead-letter topics stay JSON (the monitor reads the log as JSON). See docs/formats.md.
"""

from __future__ import annotations

import threading

from streamapp.config import Settings
from streamapp.formats.writers.outputs import (
    AvroPredictions,
    IncompatibleSchema,
    OutputRegistry,
    output_registry,
    register_predictions,
)
from streamapp.host import OutputSchemaError
from streamapp.metrics.formats import FormatMetrics

__all__ = ["OutputSchemaError", "prediction_registry", "start_predictions"]


def prediction_registry(
    settings: Settings, metrics: FormatMetrics, stop: threading.Event | None = None
) -> OutputRegistry | None:
    """The registry client for Avro predictions (None for JSON); no request is made yet."""
    if settings.formats.predictions == "json":
        return None
    return output_registry(settings.schema_registry, metrics, settings.log.repeat_interval_s,
                           stop)


def start_predictions(
    outputs: OutputRegistry, settings: Settings, metrics: FormatMetrics
) -> AvroPredictions:
    """Register the predictions schema (waits through an outage; ``RegistryStopped`` when
    stopped meanwhile); a refusal raises :class:`OutputSchemaError` with its one line."""
    try:
        return register_predictions(outputs, settings.topics.predictions, metrics)
    except IncompatibleSchema as exc:
        raise OutputSchemaError(str(exc)) from None
