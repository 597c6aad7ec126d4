"""The base of every integration type's options model."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class AdapterConfig(BaseModel):
    """Options are camelCase in the API like everything else; unknown options are refused
    (a typo must not silently mean "default")."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
