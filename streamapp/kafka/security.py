"""Check the security part of a rendered librdkafka configuration, whatever set it.

``kafka.*`` fields and ``kafka.extra`` both end up in one librdkafka dict; the
checks run on that dict, so a SASL set-up written entirely in ``kafka.extra``
(as MSK or Confluent Cloud guides show) is validated like one made of fields.
A failed check is a configuration error: settings loading raises, naming the keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
OIDC_REQUIRED = (
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.token.endpoint.url",
)
_FIELD_OF = {
    "sasl.mechanism": "kafka.sasl_mechanism",
    "sasl.username": "kafka.sasl_username",
    "sasl.password": "kafka.sasl_password",
    "sasl.oauthbearer.client.id": "kafka.sasl_oauthbearer_client_id",
    "sasl.oauthbearer.client.secret": "kafka.sasl_oauthbearer_client_secret",
    "sasl.oauthbearer.token.endpoint.url": "kafka.sasl_oauthbearer_token_endpoint_url",
}


def _name(key: str) -> str:
    """A librdkafka key as the setting that renders it (or its ``kafka.extra`` entry).

    >>> _name("sasl.username"), _name("sasl.kerberos.keytab")
    ('kafka.sasl_username', 'kafka.extra["sasl.kerberos.keytab"]')
    """
    return _FIELD_OF.get(key, f'kafka.extra["{key}"]')


def security_problems(conf: Mapping[str, Any]) -> list[str]:
    """What a rendered configuration lacks to authenticate; empty when complete.

    >>> security_problems({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
    ...                    "sasl.oauthbearer.method": "oidc"})  # doctest: +NORMALIZE_WHITESPACE
    ['sasl.mechanism=OAUTHBEARER with sasl.oauthbearer.method=oidc needs
      kafka.sasl_oauthbearer_client_id, kafka.sasl_oauthbearer_client_secret,
      kafka.sasl_oauthbearer_token_endpoint_url']
    """
    protocol = str(conf.get("security.protocol", "PLAINTEXT")).upper()
    if not protocol.startswith("SASL"):
        return []
    mechanism = str(conf.get("sasl.mechanism", conf.get("sasl.mechanisms", ""))).upper()
    if not mechanism:
        return [f"security.protocol={protocol} needs {_name('sasl.mechanism')}"]
    if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        missing = [_name(k) for k in ("sasl.username", "sasl.password") if not conf.get(k)]
        return [f"sasl.mechanism={mechanism} needs {', '.join(missing)}"] if missing else []
    if mechanism == "OAUTHBEARER":
        method = str(conf.get("sasl.oauthbearer.method", "default")).lower()
        if method == "oidc":
            missing = [_name(k) for k in OIDC_REQUIRED if not conf.get(k)]
            if missing:
                return [
                    "sasl.mechanism=OAUTHBEARER with sasl.oauthbearer.method=oidc needs "
                    + ", ".join(missing)
                ]
            url = str(conf["sasl.oauthbearer.token.endpoint.url"])
            if not url.startswith(("https://", "http://")):
                return [f"{_name('sasl.oauthbearer.token.endpoint.url')} is not an http(s) URL"]
        elif method != "default":
            return [f"sasl.oauthbearer.method={method}: expected default or oidc"]
        return []
    if mechanism == "GSSAPI":
        return []
    return [f"sasl.mechanism={mechanism}: expected one of {', '.join(SASL_MECHANISMS)} or GSSAPI"]
