"""What the OpenAPI document says about request bodies and error answers, which FastAPI cannot infer:
the routes read their bodies themselves, in several forms (multipart, raw image, JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.api.schemas import ErrorDetail

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_IMAGE_BODIES = {
    kind: _BINARY
    for kind in ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/webp", "image/tiff")
}
_ERROR_MEANINGS = {
    413: "body, image or batch over its limit, or (/read) more digits than one image may hold",
    415: "unsupported content type",
    422: "not an image, no digit found, bad pixels, or a missing field",
    503: "model not loaded, or the server is at capacity (see Retry-After)",
}


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its nested models written in place: a body schema here is not
    registered under components, so a $ref to one (or to a local $defs) would not resolve."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def image_request_body(field: str, json_model: type[BaseModel], many: bool) -> dict[str, Any]:
    """`openapi_extra` for a route taking image(s) as multipart `field`, JSON, or (one) a raw body."""
    file_schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if many:
        file_schema = {"type": "array", "items": file_schema}
    content: dict[str, Any] = {
        "multipart/form-data": {
            # Only the file field: /predict refuses any other part (413, "too many fields").
            "schema": {
                "type": "object",
                "required": [field],
                "properties": {field: file_schema},
                "additionalProperties": False,
            }
        },
        "application/json": {"schema": _inline_schema(json_model)},
    }
    if not many:
        content.update(_IMAGE_BODIES)
    return {"requestBody": {"required": True, "content": content}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorDetail, "description": _ERROR_MEANINGS[code]} for code in codes}
