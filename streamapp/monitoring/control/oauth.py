"""OAUTHBEARER tokens for the monitor's faust (aiokafka) client, as librdkafka gets them.

librdkafka fetches OIDC tokens itself (``sasl.oauthbearer.method=oidc``); aiokafka
needs a token provider. :class:`OidcTokenProvider` does what librdkafka does: a
client-credentials grant against the token endpoint with the client id and secret
as HTTP Basic auth, cached until shortly before ``expires_in``. A failed request
raises (aiokafka logs it and retries the connection). :class:`UnsecuredJwtProvider`
mirrors librdkafka's ``default`` method (unsecured JWT from ``sasl.oauthbearer.config``,
for development brokers only).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.parse
import urllib.request
from typing import Any

from aiokafka.abc import AbstractTokenProvider

REFRESH_MARGIN_S = 30.0


class OidcTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """Client-credentials tokens from an OIDC token endpoint, reused until near expiry."""

    def __init__(
        self, url: str, client_id: str, client_secret: str, scope: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url, self.scope, self.timeout_s = url, scope, timeout_s
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._auth = f"Basic {basic}"
        self._token: str | None = None
        self._expires = 0.0

    async def token(self) -> str:
        """A valid access token (fetched in a thread when the cached one is about to expire)."""
        cached = self._token
        if cached is not None and time.monotonic() <= self._expires - REFRESH_MARGIN_S:
            return cached
        fresh, self._expires = await asyncio.get_running_loop().run_in_executor(None, self.fetch)
        self._token = fresh
        return fresh

    def fetch(self) -> tuple[str, float]:
        """One token request: ``(access_token, monotonic expiry)``; raises on any failure."""
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        request = urllib.request.Request(  # noqa: S310 - the configured https endpoint
            self.url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": self._auth,
                     "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
            body: dict[str, Any] = json.loads(response.read())
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ValueError(f"token endpoint {self.url} answered without an access_token")
        return token, time.monotonic() + float(body.get("expires_in", 3600))


class UnsecuredJwtProvider(AbstractTokenProvider):  # type: ignore[misc]
    """librdkafka's ``default`` OAUTHBEARER method: an unsigned JWT for ``principal=...``."""

    def __init__(self, config: str) -> None:
        fields = dict(part.split("=", 1) for part in config.split() if "=" in part)
        if "principal" not in fields:
            raise ValueError('sasl.oauthbearer.config needs "principal=<name>"')
        self.principal = fields["principal"]
        self.lifetime_s = int(fields.get("lifeSeconds", "3600"))

    async def token(self) -> str:
        """A fresh unsigned token (``alg: none``) for the configured principal."""
        now = int(time.time())
        claims = {"sub": self.principal, "iat": now, "exp": now + self.lifetime_s}
        return f"{_b64(json.dumps({'alg': 'none'}))}.{_b64(json.dumps(claims))}."


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
