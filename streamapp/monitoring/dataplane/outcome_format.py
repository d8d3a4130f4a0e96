"""The joined-outcomes topic's values: JSON (default) or Avro (``formats.joined_outcomes``).

With ``avro`` the schema generated from :class:`streamapp.schemas.JoinedOutcome` is
registered under ``<topics.joined_outcomes>-value`` when the monitor starts, before its
data plane consumes (:meth:`OutcomeFormat.start`, called by the role): a subject that
refuses it stops the monitor with :class:`~streamapp.host.errors.OutputSchemaError` (exit 2, one
line), an unreachable registry is waited out while readiness names it. Afterwards each
outcome is written by fastavro with the registered id, no registry call per record.
Nothing here loads the Kafka client until Avro is configured (the data plane's core does
not import it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from streamapp.config import Settings
from streamapp.metrics.formats import FormatMetrics
from streamapp.monitoring.dataplane.records import OutcomeRecord, encode, outcome_fields

if TYPE_CHECKING:
    from streamapp.formats.writers.avro_records import AvroRecords
    from streamapp.formats.writers.outputs import OutputRegistry


class OutcomeFormat:
    """Encodes joined outcomes in the configured format; Avro only after :meth:`start`."""

    def __init__(self, settings: Settings, metrics: FormatMetrics,
                 stop: threading.Event | None = None) -> None:
        self.topic = settings.topics.joined_outcomes
        self.metrics = metrics
        self.outputs: OutputRegistry | None = None
        """The registry client (None: JSON); no request before :meth:`start`."""
        self.avro: AvroRecords | None = None
        if settings.formats.joined_outcomes != "json":
            from streamapp.formats.writers.outputs import output_registry

            self.outputs = output_registry(settings.schema_registry, metrics,
                                           settings.log.repeat_interval_s, stop)

    def start(self) -> bool:
        """Register the Avro schema (nothing to do for JSON); False when stopped while the
        registry was unreachable. A refusing subject raises :class:`OutputSchemaError`."""
        if self.outputs is None or self.avro is not None:
            return True
        from streamapp.formats.resolver import RegistryStopped
        from streamapp.formats.writers.outputs import IncompatibleSchema, register_outcomes
        from streamapp.host import OutputSchemaError

        try:
            self.avro = register_outcomes(self.outputs, self.topic, self.metrics)
        except IncompatibleSchema as exc:
            raise OutputSchemaError(str(exc)) from None
        except RegistryStopped:
            return False
        return True

    def ready_reason(self) -> str | None:
        """None unless the registry is unreachable while registering (any thread)."""
        return self.outputs.ready_reason() if self.outputs is not None else None

    def encode(self, outcomes: Sequence[OutcomeRecord]) -> list[bytes | None]:
        """One topic value per outcome, in order."""
        if self.outputs is None:
            return [encode(o) for o in outcomes]
        if self.avro is None:
            raise RuntimeError("Avro joined outcomes are written only after start()")
        return list(self.avro.encode([outcome_fields(o) for o in outcomes]))
