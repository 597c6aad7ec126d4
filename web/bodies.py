"""Reading JSON request bodies into pydantic models, with the API's error codes."""

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from quart import request

from web.errors import ApiError, invalid_request

M = TypeVar("M", bound=BaseModel)


async def parse_body(model: type[M]) -> M:
    """400 INVALID_JSON for anything that is not JSON; 400 INVALID_REQUEST naming the field
    for JSON that does not fit ``model``. Any content type is accepted, as curl users expect."""
    raw = await request.get_data(as_text=False)
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ApiError(400, "INVALID_JSON", "Request body is not valid JSON") from err
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise invalid_request(err) from err
