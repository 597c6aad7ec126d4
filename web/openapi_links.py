"""What /openapi.json adds to quart-schema's document: operationIds unique across the API
(quart-schema's ``<method>_<function>`` repeats, e.g. ``post_post_route``), and OpenAPI
links from each route that creates something to the routes of what it created, so clients
and schemathesis's stateful phase can chain calls (POST /api/services → GET
/api/services/{service_id}, ...)."""

import re
from collections.abc import Callable
from typing import Any

from quart_schema.openapi import QUART_SCHEMA_OPERATION_ID_ATTRIBUTE, OpenAPIProvider

# Each route that creates something (201 with the new ``id`` in its body), by path, and the
# path parameter naming what it made.
CREATES: dict[str, str] = {
    "/api/incidents": "incident_id",
    "/api/services": "service_id",
    "/api/services/{service_id}/integrations": "integration_id",
    "/api/services/{service_id}/suppression-rules": "rule_id",
    "/api/escalation-policies": "policy_id",
    "/api/schedules": "schedule_id",
    "/api/schedules/{schedule_id}/overrides": "override_id",
    "/api/users": "user_id",
    "/api/users/{user_id}/contact-methods": "method_id",
    "/api/teams": "team_id",
    "/api/api-keys": "key_id",
}
_PARAM = re.compile(r"{([^}]+)}")


class LinkedOpenAPIProvider(OpenAPIProvider):
    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        """``<method>_<module>_<function>``: unique, as OpenAPI requires."""
        name = getattr(func, QUART_SCHEMA_OPERATION_ID_ATTRIBUTE, func.__name__)
        return f"{method.lower()}_{func.__module__.rsplit('.', 1)[-1]}_{name}"

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        add_links(document["paths"])
        return document


def add_links(paths: dict[str, dict[str, Any]]) -> None:
    """Link each create's 201 to every operation under ``<path>/{<its id>}`` whose path
    parameters the create's own path and answer supply."""
    for source, param in CREATES.items():
        responses = paths.get(source, {}).get("post", {}).get("responses", {})
        created = responses.get(201, responses.get("201"))  # an int until serialized
        if created is None:
            continue
        known = set(_PARAM.findall(source))
        links: dict[str, Any] = {}
        for path, operations in paths.items():
            if not path.startswith(f"{source}/{{{param}}}"):
                continue
            if set(_PARAM.findall(path)) - known - {param}:
                continue
            values = {p: f"$request.path.{p}" for p in known}
            values[param] = "$response.body#/id"
            for operation in operations.values():
                if isinstance(operation, dict) and "operationId" in operation:
                    links[operation["operationId"]] = {
                        "operationId": operation["operationId"],
                        "parameters": values,
                    }
        if links:
            created["links"] = links
