"""Writers: records → Confluent wire-format values.

:mod:`.avro_schemas` derives Avro schemas from the pydantic wire models (one source of
truth); :mod:`.outputs` registers them (BACKWARD, TopicNameStrategy) and encodes
predictions per batch from columns (:mod:`.avro_columns`); :mod:`.serialize` wraps
confluent-kafka's serializers for ``streamapp produce``.
"""
