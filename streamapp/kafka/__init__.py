"""The Kafka layer: confluent-kafka clients and admin. Never imports torch.

Local development brokers live in :mod:`streamapp.brokers`, never here.
"""
