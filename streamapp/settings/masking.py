"""Which setting values are secrets, and how they are masked wherever they are shown.

Log records (:mod:`streamapp.logs`) and ``streamapp config show``
(:func:`streamapp.config.masked_dump`) mask through the same :class:`Redactor`, fed
with :func:`secret_values` of the settings: every ``SecretStr``, every value whose key
names a credential, and every ``password=...`` style pair inside a text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

MASK = "**********"
_CREDENTIAL_WORDS = r"password|passwd|secret|token(?![._-]?endpoint)|api[_-]?key"
"""Key words naming a credential; a token is secret, the URL that issues it is not."""
_SECRET_KEY = re.compile(rf"{_CREDENTIAL_WORDS}|credential", re.IGNORECASE)
_SECRET_PAIR = re.compile(
    rf"(?P<key>[\w.-]*(?:{_CREDENTIAL_WORDS})[\w.-]*)"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;}&]+)",
    re.IGNORECASE,
)


def secret_values(settings: BaseModel) -> list[str]:
    """Every ``SecretStr`` value inside ``settings`` (nested models, dicts, lists included)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, str) and _SECRET_KEY.search(str(key)):
                    found.append(item)  # e.g. kafka.extra["sasl.oauthbearer.client.secret"]
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(settings)
    return [value for value in found if value]


class Redactor:
    """Masks secrets in log text; secrets shorter than 3 characters are only masked by key."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, values))) if values else None

    def text(self, value: str) -> str:
        """``value`` with every configured secret and every ``password=...`` value masked.

        >>> Redactor(["hunter2"]).text("login hunter2 sasl.password=abc")
        'login ********** sasl.password=**********'
        """
        if self._values is not None:
            value = self._values.sub(MASK, value)
        return _SECRET_PAIR.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", value)

    def field(self, key: str, value: Any) -> Any:
        """An ``extra=`` value: masked entirely when its key names a credential (unless unset).

        >>> r = Redactor()
        >>> r.field("sasl.oauthbearer.client.secret", "s"), r.field("sasl_password", None)
        ('**********', None)
        >>> r.field("sasl.oauthbearer.token.endpoint.url", "https://idp/token")
        'https://idp/token'
        """
        if value is None:
            return None
        if _SECRET_KEY.search(key):
            return MASK
        if isinstance(value, str | SecretStr):
            return self.text(str(value))
        if isinstance(value, int | float | bool) or value is None:
            return value
        if isinstance(value, Mapping):
            return {str(k): self.field(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.field("", v) for v in value]
        return self.text(str(value))
