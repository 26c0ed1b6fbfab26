"""Optional bearer token in front of the API: 401 without the right token; health and metrics stay open.

Off unless a token is configured (serving/settings.py): API_TOKEN_FILE (a mounted Kubernetes Secret, the
production overlay) or API_TOKEN (an environment variable, for a local run). The comparison takes the
same time whatever the presented token shares with the real one (hmac.compare_digest), so it cannot be
guessed byte by byte.
"""

from __future__ import annotations

import hmac
import json

# Probes and the Prometheus scrape carry no token; they reveal no prediction.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
_CHALLENGE = (b"www-authenticate", b'Bearer realm="api"')


def presented_token(headers) -> bytes | None:
    """The credentials of an `Authorization: Bearer <token>` header (scheme case-insensitive), else None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            return credentials.strip() if scheme.lower() == b"bearer" else None
    return None


class BearerToken:
    """ASGI middleware: every HTTP path but OPEN_PATHS needs `Authorization: Bearer <token>` when a token
    is configured (`token`, from the settings); without one it passes everything through."""

    def __init__(self, app, token: bytes | None = None, open_paths=OPEN_PATHS) -> None:
        self.app = app
        self.token = token
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope, receive, send) -> None:
        if self.token is None or scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        presented = presented_token(scope.get("headers", ()))
        if presented is not None and hmac.compare_digest(presented, self.token):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "missing or wrong bearer token"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 401, "headers": [*headers, _CHALLENGE]})
        await send({"type": "http.response.body", "body": body})
