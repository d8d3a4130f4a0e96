"""Topic wire formats through a Schema Registry: Avro, Protobuf and JSON Schema.

``json`` (streamapp's envelope) needs nothing from here. The other formats are the
Confluent wire format (:mod:`.wire`); their schemas are resolved through
confluent-kafka's ``SchemaRegistryClient`` once per id (:mod:`.resolver`).

- :mod:`.readers`: values → records or columns, one reader per format, per batch;
- :mod:`.mapping`: records → the events' envelopes and features, and the monitor's labels;
- :mod:`.writers`: Avro schemas from the wire models, registered at start, predictions
  encoded per batch; confluent-kafka's serializers for ``streamapp produce``;
- :mod:`.configured` (which topic has which format), :mod:`.peek` (``streamapp tail``),
  :mod:`.schema_features` (``models register --schema``).

See docs/formats.md.
"""

from streamapp.formats.mapping.topic import RegistryFormat, input_format
from streamapp.formats.resolver import RegistryStopped, SchemaResolver, UnknownSchema
from streamapp.formats.wire import NotWireFormat, schema_id
from streamapp.formats.writers.avro_schemas import avro_schema
from streamapp.formats.writers.outputs import IncompatibleSchema

__all__ = [
    "IncompatibleSchema",
    "NotWireFormat",
    "RegistryFormat",
    "RegistryStopped",
    "SchemaResolver",
    "UnknownSchema",
    "avro_schema",
    "input_format",
    "schema_id",
]
