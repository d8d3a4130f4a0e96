"""The SCORING role: Kafka events → validated batches → scorer pool → predictions."""
