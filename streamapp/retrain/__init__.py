"""The reference retrainer."""
