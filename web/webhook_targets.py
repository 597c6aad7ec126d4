"""The configuration-time half of the webhook SSRF guard (the send-time half, which counts,
is activities/outbound_http.py): a webhook URL naming a literal non-public address or
localhost is refused at once, so whoever sets it learns why instead of finding failed
deliveries later."""

from models.errors import InvalidValue
from tocsin.ssrf import url_refusal
from web.runtime import runtime


def check_webhook_target(field: str, url: str | None) -> None:
    """Raise InvalidValue naming ``field`` unless ``url`` may be a webhook target."""
    if url is None or runtime().settings.webhook_allow_private_targets:
        return
    refusal = url_refusal(url)
    if refusal is not None:
        raise InvalidValue(field, refusal)
