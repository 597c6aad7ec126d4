"""Reading JSON request bodies into pydantic models, with the API's error codes, and
writing models as JSON answers."""

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import Response, request

from web.errors import ApiError, invalid_request
from web.text import storable

M = TypeVar("M", bound=BaseModel)

# Larger bodies are refused with 413 before they are read to the end.
MAX_BODY_BYTES = 512 * 1024


async def parse_body(model: type[M]) -> M:
    """The request's body as ``model`` (``parse_json_as``)."""
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    return parse_json_as(model, raw)


def parse_json_as(model: type[M], raw: bytes) -> M:
    """400 INVALID_JSON for anything that is not JSON; 400 INVALID_REQUEST naming the field
    for JSON that does not fit ``model``. Any content type is accepted, as curl users expect."""
    try:
        return model.model_validate(decode_json(raw))
    except ValidationError as err:
        raise invalid_request(err) from err


async def read_json() -> Any:
    """The request body as JSON (400 INVALID_JSON if it is not, or holds unstorable text)."""
    raw = await request.get_data(as_text=False)
    assert isinstance(raw, bytes)
    return decode_json(raw)


def decode_json(raw: bytes) -> Any:
    """``raw`` as JSON (400 INVALID_JSON if it is not, or holds unstorable text)."""
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ApiError(400, "INVALID_JSON", "Request body is not valid JSON") from err
    if not storable(data):
        raise ApiError(
            400, "INVALID_JSON", "Request body contains NUL characters or unpaired surrogates"
        )
    return data


def json_answer(model: BaseModel, status: int = 200) -> Response:
    """``model`` as the JSON answer, serialized by pydantic-core in one step. Hot paths
    answer this way: a returned dict costs quart-schema a fresh TypeAdapter per response."""
    return Response(model.model_dump_json(by_alias=True), status, content_type="application/json")
