"""Readers: wire-format values → records or columns, one reader per format.

Each reader (:mod:`.avro_reader`, :mod:`.protobuf_reader`, :mod:`.json_schema_reader`)
implements the contract in :mod:`.batch`: ``read(values)`` gives a record (a dict, or a
Protobuf message) or a ``(reason, detail)`` reject per value; ``columns(values, paths,
time_path)`` decodes a batch straight into columns through a plan compiled per schema
(:mod:`.avro_plan`, :mod:`.proto_plan`, :mod:`.json_plan`, numpy buffer reads in
:mod:`.wire_batch`), handing every row it cannot vouch for to ``read``.
"""

from __future__ import annotations

from streamapp.formats.readers.avro_reader import AvroReader
from streamapp.formats.readers.batch import (
    Columns,
    Decoded,
    RecordReader,
    Reject,
    WrongSchemaType,
)
from streamapp.formats.readers.json_schema_reader import JsonSchemaReader
from streamapp.formats.readers.protobuf_reader import ProtobufReader

__all__ = ["AvroReader", "Columns", "Decoded", "JsonSchemaReader", "ProtobufReader",
           "RecordReader", "Reject", "WrongSchemaType"]
