"""``/api/services/<id>/webhook-secret``: the secret a service's webhook receiver verifies
signatures with (docs/webhooks.md).

Secrets are derived from ``TOCSIN_WEBHOOK_SIGNING_KEY`` rather than stored, so this route
recomputes it. Whoever reads it can forge that service's webhooks, hence admin only.
"""

from typing import Any

from pydantic import Field
from quart import Blueprint
from quart_schema import document_response, tag

from tocsin.webhook_signing import SIGNATURE_HEADER, derive_secret, service_owner
from web.errors import ApiError, error_responses
from web.management import unrestricted_principal
from web.runtime import runtime
from web.schemas import CamelModel
from web.services import accessible_service

blueprint = Blueprint("webhooks", __name__)


class WebhookSecretOut(CamelModel):
    service_id: str
    secret: str = Field(description="HMAC-SHA256 key of the X-Tocsin-Signature header")
    signature_header: str = SIGNATURE_HEADER


@blueprint.get("/api/services/<service_id>/webhook-secret")
@tag(["services"])
@document_response(WebhookSecretOut, 200)
@error_responses(401, 403, 404, 503)
async def secret_route(service_id: str) -> dict[str, Any]:
    """The service's webhook signing secret (scope admin, key not limited to services).

    503 WEBHOOKS_NOT_CONFIGURED when TOCSIN_WEBHOOK_SIGNING_KEY is unset.
    """
    principal = await unrestricted_principal("admin")
    service = await accessible_service(principal, service_id)
    key = runtime().settings.webhook_signing_key
    if key is None or not key.get_secret_value():
        raise ApiError(
            503,
            "WEBHOOKS_NOT_CONFIGURED",
            "Webhook signing is not configured (set TOCSIN_WEBHOOK_SIGNING_KEY)",
        )
    secret = derive_secret(key.get_secret_value(), service_owner(service.id))
    out = WebhookSecretOut(service_id=service.id, secret=secret)
    return out.model_dump(mode="json", by_alias=True)
