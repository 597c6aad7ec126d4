"""Form errors keyed like the inputs they belong to, for every UI page.

Pydantic's errors come from the API's own request models and the model layer's refusals
from the same functions the API calls; these turn both into ``{input name: message}``.
"""

from pydantic import ValidationError
from pydantic.alias_generators import to_snake

from models.errors import Conflict, InvalidValue, UnknownReference

# What the model layer refuses a configuration change with (the API's 400/409).
REFUSALS = (InvalidValue, UnknownReference, Conflict)


def _message(error: dict) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def field_errors(err: ValidationError) -> dict[str, str]:
    """By form field: the snake_case name of the model's top-level field."""
    errors: dict[str, str] = {}
    for e in err.errors():
        field = to_snake(str(e["loc"][0])) if e["loc"] else "name"
        errors.setdefault(field, _message(dict(e)))
    return errors


def nested_field_errors(err: ValidationError) -> dict[str, str]:
    """For forms with repeated fieldsets: the whole path, ``steps-0-delay_minutes``."""
    errors: dict[str, str] = {}
    for e in err.errors():
        parts = [to_snake(str(p)) for p in e["loc"]] or ["name"]
        errors.setdefault("-".join(parts), _message(dict(e)))
    return errors
