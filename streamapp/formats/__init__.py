"""Topic wire formats through a Schema Registry: Avro, Protobuf and JSON Schema.

``json`` (streamapp's envelope) needs nothing from here. The other formats are the
Confluent wire format (:mod:`.wire`); their schemas are resolved through
confluent-kafka's ``SchemaRegistryClient`` once per id (:mod:`.resolver`), records
are decoded per batch (:mod:`.records`), mapped to envelopes and features
(:mod:`.fields`, :mod:`.topic`).
See docs/formats.md.
"""

from streamapp.formats.resolver import RegistryStopped, SchemaResolver, UnknownSchema
from streamapp.formats.topic import RegistryFormat, input_format
from streamapp.formats.wire import NotWireFormat, schema_id

__all__ = [
    "NotWireFormat",
    "RegistryFormat",
    "RegistryStopped",
    "SchemaResolver",
    "UnknownSchema",
    "input_format",
    "schema_id",
]
