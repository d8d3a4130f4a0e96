"""The security checks of a rendered librdkafka configuration, for the Kafka layer.

They live beside the settings they check (:mod:`streamapp.settings.kafka`), so that
loading settings imports no Kafka code; this module names them for Kafka-side callers:

>>> security_problems({"security.protocol": "SASL_SSL"})
['security.protocol=SASL_SSL needs kafka.sasl_mechanism']
"""

from __future__ import annotations

from streamapp.settings.kafka import OIDC_REQUIRED, SASL_MECHANISMS, security_problems

__all__ = ["OIDC_REQUIRED", "SASL_MECHANISMS", "security_problems"]
