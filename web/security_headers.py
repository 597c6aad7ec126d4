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


def register_security_headers(app: Quart, settings: Settings) -> None:
    published_https = settings.public_url.startswith("https://")

    @app.after_request
    async def security_headers(response: Response) -> Response:
        for name, value in ALWAYS.items():
            response.headers.setdefault(name, value)
        docs = request.endpoint in DOCS_ENDPOINTS
        response.headers.setdefault(
            "Content-Security-Policy", DOCS_POLICY if docs else CONTENT_SECURITY_POLICY
        )
        if published_https or request.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
