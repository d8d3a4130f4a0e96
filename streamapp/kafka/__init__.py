"""The Kafka layer: confluent-kafka clients, admin, the embedded broker. Never imports torch."""
