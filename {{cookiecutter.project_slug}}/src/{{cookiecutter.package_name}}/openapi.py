"""The service's OpenAPI document (/docs.json), completed to describe every answer the service gives.

BentoML documents 200, 400, 404 and 500 only, not the X-Request-Id header, types a 400's `detail` as text
where it is a list of validation errors, drops `null` from optional fields and leaves the request body
optional. The document is what clients (and the schemathesis run in the template's tests) hold the service
to, so this middleware adds the answers of the limits (413, 415, 429, 503, 504), the request id header, the
real 400 body, nullable optional fields and a required body.
"""

from __future__ import annotations

import json

from .serving.record import REQUEST_ID_HEADER, REQUEST_ID_PATTERN

REFUSAL = {
    "type": "object",
    "title": "Refusal",
    "required": ["error"],
    "properties": {"error": {"type": "string", "title": "Message"}},
}
REFUSALS = {
    "413": "Request body over the size limit",
    "415": "The body is not application/json",
    "429": "Too many requests in flight",
    "503": "The model is still loading",
    "504": "The request took longer than the timeout",
}
REQUEST_ID = {
    "name": REQUEST_ID_HEADER,
    "in": "header",
    "required": False,
    "description": "The client's id for this request, used in the prediction ids; the service makes one "
    "when absent. An id that does not match the pattern is a 400.",
    "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN, "maxLength": 128},
}
ECHOED_ID = {"description": "The request id the prediction ids start with", "schema": {"type": "string"}}
ERROR_DETAIL = {
    "title": "Error Detail",
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
}


def complete(spec: dict, api_paths: tuple[str, ...]) -> dict:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Refusal"] = REFUSAL
    if "InvalidArgument" in schemas:
        schemas["InvalidArgument"]["properties"]["detail"] = ERROR_DETAIL
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
    for path in api_paths:
        operation = spec.get("paths", {}).get(path, {}).get("post")
        if operation is None:
            continue
        if "requestBody" in operation:  # no body is a 400 (RECORDS_FIELD missing), not a valid request
            operation["requestBody"]["required"] = True
        for status, description in REFUSALS.items():
            operation["responses"].setdefault(status, {"description": description, "content": reference})
        parameters = operation.setdefault("parameters", [])
        if not any(parameter.get("name") == REQUEST_ID_HEADER for parameter in parameters):
            parameters.append(REQUEST_ID)
        operation["responses"]["200"].setdefault("headers", {})[REQUEST_ID_HEADER] = ECHOED_ID
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        required = set(answer.get("required", []))
        for name, field in answer.get("properties", {}).items():
            if name not in required and field.get("default", ...) is None:
                field["nullable"] = True
    readyz = spec.get("paths", {}).get("/readyz", {}).get("get")
    if readyz is not None:
        readyz["responses"].setdefault("503", {"description": "Not ready: the model is still loading"})
    return spec


class CompleteOpenAPI:
    """Rewrites the GET /docs.json answer with `complete`; every other request passes untouched."""

    def __init__(self, app, api_paths: tuple[str, ...]) -> None:
        self.app = app
        self.api_paths = api_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/docs.json" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start.get("status") == 200:
                body = json.dumps(complete(json.loads(body), self.api_paths)).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)
