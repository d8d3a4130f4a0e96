"""Brokers streamapp can start on loopback: Apache Kafka (reference) and Tansu (fallback)."""
