"""Brokers streamapp can start on loopback, for development, demos and tests only.

Apache Kafka (KRaft, the reference: durable log, TLS, SASL, transactions,
several nodes, fault injection such as :meth:`ApacheKafka.kill_node`) and Tansu
(a static binary from the ``local`` extra, memory-only, no Java). Never on a
production path: a worker uses one only when asked with ``--local-broker``
(:mod:`streamapp.host.cluster`); ``streamapp broker``, ``streamapp demo`` and
the tests start them explicitly.
"""

from streamapp.brokers.apache import ApacheKafka, find_kafka_libs, kafka_available
from streamapp.brokers.local import embedded_broker, local_broker_kind
from streamapp.brokers.process import BrokerError, ManagedBroker, free_port
from streamapp.brokers.tansu import TansuBroker

__all__ = [
    "ApacheKafka",
    "BrokerError",
    "ManagedBroker",
    "TansuBroker",
    "embedded_broker",
    "find_kafka_libs",
    "free_port",
    "kafka_available",
    "local_broker_kind",
]
