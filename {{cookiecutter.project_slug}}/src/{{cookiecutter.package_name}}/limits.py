"""ASGI middleware in front of the service: a body-size limit (413) and a gate while the model loads (503)."""

from __future__ import annotations

import asyncio
import json
import threading
import time


async def refuse(send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"error": message}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Checks Content-Length up front; a body without one (chunked) is read up to the limit first."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send) -> None:
        await refuse(send, 413, f"request body is larger than {self.max_bytes} bytes")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(send)
                return
        buffered = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return buffered
            return await receive()

        await self.app(scope, replay, send)


class ApiGate:
    """In front of the prediction endpoints: JSON only (415), and a wait while the model loads (then 503).

    BentoML would hand any declared content type to its parsers (a multipart body without a boundary
    ends in a 500); the endpoints document application/json only, so nothing else gets through.
    Each worker loads its own model: a request that reaches a worker still loading waits up to `wait_s`
    for it (so the moment /readyz turns 200 on one worker loses no request on another), then gets 503.
    """

    def __init__(self, app, ready: threading.Event, paths: tuple[str, ...], wait_s: float = 5.0) -> None:
        self.app = app
        self.ready = ready
        self.paths = paths
        self.wait_s = wait_s

    async def _loaded(self) -> bool:
        deadline = time.monotonic() + self.wait_s
        while not self.ready.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.ready.is_set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-type", b"application/json")
        if declared.split(b";")[0].strip().lower() != b"application/json":
            await refuse(send, 415, "send the records as application/json")
        elif not await self._loaded():
            retry = ((b"retry-after", b"1"),)
            await refuse(send, 503, "the model is still loading; retry when /readyz answers 200", retry)
        else:
            await self.app(scope, receive, send)
