"""Headers every response carries, so a browser treats Tocsin's pages as strictly as they
allow (docs/security.md).

The UI's templates use no inline script or style and load everything from /static, so the
Content-Security-Policy needs no ``unsafe-inline``. The API documentation pages that
quart-schema serves (/docs, /redocs, /scalar) load their viewers from a CDN with inline
scripts; they get only the framing rule. Strict-Transport-Security goes out only when the
request came over https or Tocsin is published at an https URL (browsers ignore it over
plain http anyway).
"""

from quart import Quart, Response, request

from tocsin.settings import Settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_POLICY = "frame-ancestors 'none'"
DOCS_ENDPOINTS = frozenset({"swagger_ui", "redoc_ui", "scalar_ui"})
HSTS = "max-age=31536000"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def published_https(settings: Settings) -> bool:
    """Tocsin is published at an https URL: every answer may carry HSTS."""
    return settings.public_url.startswith("https://")


def security_headers(published: bool, endpoint: str | None, scheme: str) -> dict[str, str]:
    """The headers an answer of ``endpoint`` to a request over ``scheme`` carries
    (``published``: ``published_https``)."""
    wanted = dict(ALWAYS)
    wanted["Content-Security-Policy"] = (
        DOCS_POLICY if endpoint in DOCS_ENDPOINTS else CONTENT_SECURITY_POLICY
    )
    if published or scheme == "https":
        wanted["Strict-Transport-Security"] = HSTS
    return wanted


def register_security_headers(app: Quart, settings: Settings) -> None:
    published = published_https(settings)

    @app.after_request
    async def add_security_headers(response: Response) -> Response:
        wanted = security_headers(published, request.endpoint, request.scheme)
        # A header the view set itself stays. One pass over the headers: werkzeug's
        # setdefault scans them three times and raises a KeyError for each missing one,
        # four times per answer (10 µs of 22, about 1 % of an ingest request's CPU).
        present = {name.lower() for name in response.headers.keys()}
        response.headers.extend(
            (name, value) for name, value in wanted.items() if name.lower() not in present
        )
        return response
