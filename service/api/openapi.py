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
    401: "missing or wrong key",
    404: "no such correction or version",
    413: "body, image or batch over its limit, or (/read) more digits than one image may hold",
    415: "unsupported content type",
    422: "not an image, no digit found, bad pixels or label, or a missing field",
    503: "model not loaded, server at capacity, or the database unavailable (see Retry-After)",
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


def image_request_body(
    field: str, json_model: type[BaseModel], many: bool, fields: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`openapi_extra` for a route taking image(s) as multipart `field` (with text `fields`), JSON,
    or (one) a raw body."""
    file_schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if many:
        file_schema = {"type": "array", "items": file_schema}
    properties = {field: file_schema} | {name: {"type": "string"} for name in fields}
    content: dict[str, Any] = {
        "multipart/form-data": {
            # Only these fields: /predict refuses any other part (413, "too many fields").
            "schema": {
                "type": "object",
                "required": [field, *fields],
                "properties": properties,
                "additionalProperties": False,
            }
        },
        "application/json": {"schema": _inline_schema(json_model)},
    }
    if not many:
        content.update(_IMAGE_BODIES)
    return {"requestBody": {"required": True, "content": content}}


def json_request_body(model: type[BaseModel], required: bool) -> dict[str, Any]:
    content = {"application/json": {"schema": _inline_schema(model)}}
    return {"requestBody": {"required": required, "content": content}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorDetail, "description": _ERROR_MEANINGS[code]} for code in codes}
