"""Records of any wire model in Avro, record by record: fastavro's writer, the Confluent header.

:class:`AvroRecords` is the generic writer of an output topic whose records are few enough
that a fastavro call per record is affordable (the joined outcomes: one per joined label,
~17 µs each with an Agrawal model's 9 features; docs/formats.md). The schema is the one
:func:`~.avro_schemas.avro_schema` generates from the model, registered at start
(:meth:`~.outputs.OutputRegistry.register_output`); :meth:`AvroRecords.encode` never calls
the registry. The predictions topic has its own column encoder (:mod:`.outputs`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import fastavro
import orjson
from pydantic import BaseModel

from streamapp.formats.writers.avro_columns import header
from streamapp.formats.writers.avro_schemas import avro_schema, json_text_fields
from streamapp.metrics.formats import FormatMetrics


class AvroRecords:
    """Instances of ``model`` (or dicts of its fields) as Confluent wire-format Avro values.

    ``record`` names them in ``streamapp_format_records_encoded_total``. A record that does
    not fit the schema raises fastavro's error (``ValueError`` / ``TypeError``): the wire
    model validated it already, so that is a bug, not bad input.
    """

    def __init__(self, model: type[BaseModel], schema_id: int, metrics: FormatMetrics,
                 record: str) -> None:
        self.model = model
        self.schema_id = schema_id
        self.schema = fastavro.parse_schema(avro_schema(model))
        self._texts = json_text_fields(model)
        self._header = header(schema_id)
        self._count = metrics.encoded.labels(format="avro", record=record)

    def encode(self, records: Sequence[BaseModel | Mapping[str, Any]]) -> list[bytes]:
        """One wire-format value per record, in order (counted once per call)."""
        out: list[bytes] = []
        schema, head = self.schema, self._header
        for record in records:
            datum = self.datum(record)
            buf = io.BytesIO()
            buf.write(head)
            fastavro.schemaless_writer(buf, schema, datum)
            out.append(buf.getvalue())
        self._count.inc(len(out))
        return out

    def datum(self, record: BaseModel | Mapping[str, Any]) -> Mapping[str, Any]:
        """What fastavro writes for ``record``: its fields, those holding ``Any`` as JSON text.

        >>> from streamapp.metrics.formats import FormatMetrics
        >>> from prometheus_client import CollectorRegistry
        >>> from streamapp.schemas import RetrainRequest
        >>> w = AvroRecords(RetrainRequest, 1, FormatMetrics(CollectorRegistry()), "x")
        >>> w.datum({"evidence": {"psi": 0.3}, "model_name": "m"})["evidence"]
        '{"psi":0.3}'
        """
        datum = record.model_dump() if isinstance(record, BaseModel) else record
        if not self._texts:
            return datum
        texts = {name: orjson.dumps(datum[name]).decode() for name in self._texts
                 if datum.get(name) is not None}
        return {**datum, **texts}
