"""Links from a notification back into Tocsin."""


def incident_url(public_url: str, incident_id: str) -> str:
    return f"{public_url.rstrip('/')}/incidents/{incident_id}"
