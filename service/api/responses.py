"""The JSON response class every route answers with."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson, which also turns numpy floats into numbers directly.

    A JSONResponse (only `render` differs) because FastAPI documents a route's response_model in
    the OpenAPI document only for JSONResponse classes; otherwise every 200 reads "a string".
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
