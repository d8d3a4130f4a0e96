"""Input files to Kafka records: JSONL lines as written, CSV / Parquet rows through typed
readers (as event envelopes or flat rows), and a pre-send check against a model's manifest."""
